"""Image transforms: the paper's training augmentation and the test-time resize."""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image
from torchvision import transforms as T

#: ImageNet statistics, used for every backbone (also those trained from scratch).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def build_transform(
    height: int, width: int, train: bool, pad: int = 10
) -> Callable[[Image.Image], torch.Tensor]:
    """Test: resize + normalise. Train: resize, random flip, pad ``pad`` then random crop."""
    ops: list[Callable] = [T.Resize((height, width), interpolation=T.InterpolationMode.BILINEAR)]
    if train:
        ops += [T.RandomHorizontalFlip(), T.Pad(pad), T.RandomCrop((height, width))]
    ops += [T.ToTensor(), T.Normalize(MEAN, STD)]
    return T.Compose(ops)
