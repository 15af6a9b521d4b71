"""Image decoding and the torch ``Dataset`` over a list of :class:`ImageRecord`."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import torch
from PIL import Image, UnidentifiedImageError

from dgreid.errors import DatasetError
from dgreid.structures import ImageRecord

#: Largest image side accepted (guards against decompression bombs).
MAX_SIDE = 8192


def read_image(path: str) -> Image.Image:
    """Decode ``path`` as RGB; raise :class:`DatasetError` naming the file on any failure."""
    try:
        with Image.open(path) as img:
            w, h = img.size
            if w > MAX_SIDE or h > MAX_SIDE:
                raise DatasetError(
                    f"{path}: image is {w}x{h}, larger than {MAX_SIDE} px on a side; "
                    "is this a person crop?"
                )
            return img.convert("RGB")
    except DatasetError:
        raise
    except FileNotFoundError as e:
        raise DatasetError(f"{path}: file not found") from e
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            raise DatasetError(f"{path}: empty file (0 bytes)") from e
        raise DatasetError(f"{path}: cannot decode image ({e.__class__.__name__}: {e})") from e


class ImageDataset(torch.utils.data.Dataset):
    """Maps an index to ``(image_tensor, record)``; pair it with ``collate_batch``."""

    def __init__(
        self,
        records: Sequence[ImageRecord],
        transform: Callable[[Image.Image], torch.Tensor],
    ) -> None:
        self.records = list(records)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ImageRecord]:
        rec = self.records[index]
        return self.transform(read_image(rec.path)), rec
