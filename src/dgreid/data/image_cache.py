"""The decoded-image cache: each training image decoded once, resized to the run's input size and
kept as uint8 in one tensor, so that training augments tensors instead of decoding files.

Re-ID training sets are small (tens of thousands of crops of a few kB; 6 kB each at 64x32), and
decoding plus resizing runs at about 150-215 images/s per core, slower than the CPU-sized
networks train. The cache holds exactly the pixels the decoding path produces (same decoder,
same bilinear resize) and :class:`CachedImageDataset` makes the same random choices from the
same per-image seed, so a run gives bit-identical batches with the cache or without it.

DataLoader workers share the one tensor: forked workers inherit it without a copy (nothing
writes to it), and under the spawn start method torch moves it to shared memory once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch.utils.data import Dataset

from dgreid.data.check import decode_failure, distinct_paths, map_images, unreadable_error
from dgreid.data.image_dataset import read_image
from dgreid.data.transforms import Augmentation, augment_batch, draw_flip_crop, resize_image
from dgreid.errors import DatasetError
from dgreid.structures import Batch, ImageRecord, batch_of
from dgreid.utils.progress import progress_bar

log = logging.getLogger(__name__)

#: Bytes in one MB of ``data.cache_budget_mb``.
MB = 2**20


def cache_bytes(num_images: int, height: int, width: int) -> int:
    """Memory the cache of ``num_images`` RGB images of ``height x width`` takes."""
    return num_images * height * width * 3


def over_budget(num_images: int, height: int, width: int, budget_mb: int) -> str:
    """Why the cache does not fit in ``budget_mb`` MB, or ``""`` when it does."""
    need = cache_bytes(num_images, height, width)
    if need <= budget_mb * MB:
        return ""
    return (
        f"caching {num_images} images at {height}x{width} needs {need / MB:.1f} MB "
        f"({num_images} x {height} x {width} x 3 bytes), more than "
        f"data.cache_budget_mb={budget_mb}"
    )


@dataclass(frozen=True)
class ImageCache:
    """``pixels[row]`` is the image ``rows`` maps to ``row``: uint8, height x width x 3."""

    pixels: torch.Tensor
    rows: dict[str, int]

    @property
    def height(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[2])

    def rows_of(self, records: Sequence[ImageRecord]) -> list[int]:
        """The row of each record's image; :class:`DatasetError` if any is not cached."""
        missing = [r.path for r in records if r.path not in self.rows]
        if missing:
            raise DatasetError(
                f"{len(missing)} of {len(records)} images are not in the image cache of "
                f"{len(self.rows)} images, e.g. {missing[0]}: build the cache from the same "
                f"records as the stream"
            )
        return [self.rows[r.path] for r in records]


def build_image_cache(
    records: Sequence[ImageRecord],
    height: int,
    width: int,
    budget_mb: int,
    workers: int = 0,
    progress: bool = True,
) -> ImageCache:
    """Decode and resize every distinct image of ``records`` once (in ``workers`` threads when
    > 0). Raises :class:`DatasetError` when the cache would exceed ``budget_mb`` MB (before
    decoding anything) or listing every image that cannot be decoded."""
    paths = distinct_paths(records)
    too_big = over_budget(len(paths), height, width, budget_mb)
    if too_big:
        raise DatasetError(
            f"{too_big}; raise data.cache_budget_mb to at least "
            f"{-(-cache_bytes(len(paths), height, width) // MB)}, or set data.cache=auto "
            f"(decode on the fly when the cache does not fit) or data.cache=none"
        )
    start = time.perf_counter()
    pixels = np.empty((len(paths), height, width, 3), dtype=np.uint8)
    bad: list[tuple[str, str]] = []
    load = partial(_decode_resized, height=height, width=width)
    bar = progress_bar(total=len(paths), desc="caching images", unit="img", disable=not progress)
    with bar:
        for row, res in enumerate(map_images(load, paths, workers, bar)):
            if isinstance(res, tuple):
                bad.append(res)
            else:
                pixels[row] = res
    if bad:
        raise unreadable_error(bad)
    log.info(
        "image cache: %d images at %dx%d, %.1f MB, built in %.1f s",
        len(paths), height, width, pixels.nbytes / MB, time.perf_counter() - start,
    )  # fmt: skip
    return ImageCache(torch.from_numpy(pixels), {p: row for row, p in enumerate(paths)})


def _decode_resized(path: str, height: int, width: int) -> np.ndarray | tuple[str, str]:
    """``path`` decoded and resized (height x width x 3 uint8), or ``(path, reason)``."""
    try:
        return np.asarray(resize_image(read_image(path), height, width))
    except DatasetError as e:
        return decode_failure(path, e)


class CachedImageDataset(Dataset):
    """``records`` served from ``cache`` with the training augmentation ``aug``, a batch at a
    time: ``dataset[[(index, seed), ...]]`` is the :class:`Batch` of those records, each image
    augmented as its seed says (see :mod:`dgreid.engine.loader`)."""

    def __init__(
        self, cache: ImageCache, records: Sequence[ImageRecord], aug: Augmentation | None = None
    ) -> None:
        self.cache, self.records, self.aug = cache, list(records), aug or Augmentation()
        self.rows = cache.rows_of(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, items: Sequence[tuple[int, int]]) -> Batch:  # type: ignore[override]
        generator = torch.Generator()
        choices = [draw_flip_crop(seed, self.aug.pad, generator) for _, seed in items]
        images = [self.cache.pixels[self.rows[index]] for index, _ in items]
        return batch_of(
            augment_batch(images, choices, self.aug), [self.records[i] for i, _ in items]
        )


__all__ = [
    "MB",
    "CachedImageDataset",
    "ImageCache",
    "build_image_cache",
    "cache_bytes",
    "distinct_paths",
    "over_budget",
]
