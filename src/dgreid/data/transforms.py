"""Image transforms: the paper's training augmentation and the test-time resize.

The augmentation exists twice, with the same result: :func:`build_transform` on a decoded PIL
image (random choices from torch's global generator, seeded per image by the loader), and
:func:`augment_batch` on a batch of already-resized uint8 images (the decoded-image cache), whose
choices :func:`draw_flip_crop` takes from a generator seeded with the same per-image seed, in
torchvision's order. Both resize with PIL's bilinear filter first (:func:`resize_image`), so for
the same image and seed the two give the same float tensor, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from torchvision import transforms as T

#: ImageNet statistics, used for every backbone (also those trained from scratch).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
#: Zero padding on each side before the random crop back to the input size.
PAD = 10


def resize_image(img: Image.Image, height: int, width: int) -> Image.Image:
    """``img`` resized to ``height x width`` as torchvision's ``Resize`` does it on PIL images."""
    return img.resize((width, height), Image.Resampling.BILINEAR)


def build_transform(
    height: int, width: int, train: bool, pad: int = PAD
) -> Callable[[Image.Image], torch.Tensor]:
    """Test: resize + normalise. Train: resize, random flip, pad ``pad`` then random crop."""
    ops: list[Callable] = [T.Resize((height, width), interpolation=T.InterpolationMode.BILINEAR)]
    if train:
        ops += [T.RandomHorizontalFlip(), T.Pad(pad), T.RandomCrop((height, width))]
    ops += [T.ToTensor(), T.Normalize(MEAN, STD)]
    return T.Compose(ops)


@dataclass(frozen=True)
class FlipCrop:
    """One image's random choices: mirror it, and the crop's corner in the padded image."""

    flip: bool
    top: int
    left: int


def draw_flip_crop(seed: int, pad: int = PAD, generator: torch.Generator | None = None) -> FlipCrop:
    """The choices :func:`build_transform` makes under ``torch.manual_seed(seed)``: the same
    draws (flip, then the crop's row, then its column) from a generator seeded with ``seed``."""
    g = (generator or torch.Generator()).manual_seed(seed)
    flip = bool(torch.rand(1, generator=g) < 0.5)
    if pad == 0:  # the crop is the whole image: torchvision draws nothing
        return FlipCrop(flip, 0, 0)
    top = int(torch.randint(0, 2 * pad + 1, (1,), generator=g))
    left = int(torch.randint(0, 2 * pad + 1, (1,), generator=g))
    return FlipCrop(flip, top, left)


def augment_batch(
    images: Sequence[torch.Tensor], choices: Sequence[FlipCrop], pad: int = PAD
) -> torch.Tensor:
    """Flip, zero-pad by ``pad`` and crop back each of ``images`` (uint8, H x W x 3, all one
    size) as ``choices`` say, then normalise: float N x 3 x H x W, as :func:`build_transform`
    gives for each image."""
    h, w, _ = images[0].shape
    out = torch.zeros((len(images), 3, h, w), dtype=torch.uint8)
    for i, c in enumerate(choices):
        img = images[i].permute(2, 0, 1)
        if c.flip:
            img = img.flip(2)
        dy, dx = c.top - pad, c.left - pad  # the crop's corner in the unpadded image
        y0, y1, x0, x1 = max(0, -dy), min(h, h - dy), max(0, -dx), min(w, w - dx)
        if y0 < y1 and x0 < x1:  # else the crop is all padding (pad > a side)
            out[i, :, y0:y1, x0:x1] = img[:, y0 + dy : y1 + dy, x0 + dx : x1 + dx]
    return normalise(out)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 N x 3 x H x W to float, scaled to [0, 1] and standardised with :data:`MEAN` and
    :data:`STD` (the same arithmetic as ``ToTensor`` then ``Normalize``)."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return images.float().div_(255).sub_(mean).div_(std)
