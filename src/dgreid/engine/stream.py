"""The training images as a seeded stream of batches, built by the caller and opened by the
trainer once it knows the process's rank (DDP) and device.

:class:`ImageStream` says which images and how they are decoded and grouped (K images per
identity); the trainer's :class:`~dgreid.engine.settings.TrainSettings` say how many per step
and from which seed, and the method says which sampler (``Method.sampler``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from torch.utils.data import DataLoader

from dgreid.data.image_cache import CachedImageDataset, ImageCache
from dgreid.data.image_dataset import ImageDataset
from dgreid.data.samplers import build_sampler
from dgreid.data.transforms import Augmentation, build_transform
from dgreid.engine.loader import SeededBatches, build_train_loader, iterate
from dgreid.errors import DatasetError
from dgreid.structures import Batch, ImageRecord


@dataclass(frozen=True)
class ImageStream:
    """``records`` resized to ``height x width`` with the training augmentation ``augment``,
    ``num_instances`` (K) images per identity in a batch, decoded by ``workers`` DataLoader
    processes, or read from ``cache`` (decoded and resized once; the same batches, faster) when
    one is given."""

    records: Sequence[ImageRecord]
    num_instances: int = 4
    height: int = 64
    width: int = 32
    workers: int = 0
    cache: ImageCache | None = field(default=None, compare=False, repr=False)
    augment: Augmentation = Augmentation()

    def __post_init__(self) -> None:
        object.__setattr__(self, "records", tuple(self.records))
        cache = self.cache
        if cache is not None and (cache.height, cache.width) != (self.height, self.width):
            raise DatasetError(
                f"the image cache holds {cache.height}x{cache.width} images; this stream "
                f"needs {self.height}x{self.width} (build the cache at the input size)"
            )

    def __len__(self) -> int:
        return len(self.records)

    def open(
        self,
        sampler: str,
        batch_size: int,
        seed: int,
        iters_per_epoch: int,
        rank: int = 0,
        world_size: int = 1,
        pin_memory: bool = False,
    ) -> OpenStream:
        """This rank's share of the global stream of ``batch_size``-image batches."""
        kind = build_sampler(
            sampler, self.records, batch_size, self.num_instances, seed, rank, world_size
        )
        kind.set_length(iters_per_epoch)
        batches = SeededBatches(kind, seed)
        loader = build_train_loader(self._dataset(), batches, self.workers, pin_memory)
        return OpenStream(batches, loader)

    def _dataset(self) -> ImageDataset | CachedImageDataset:
        """The cached images when there is a cache, else the decoding dataset."""
        if self.cache is not None:
            return CachedImageDataset(self.cache, self.records, self.augment)
        transform = build_transform(self.height, self.width, train=True, aug=self.augment)
        return ImageDataset(self.records, transform)


@dataclass
class OpenStream:
    """An opened :class:`ImageStream`: iterate one epoch at a time."""

    batches: SeededBatches
    loader: DataLoader

    def epoch(self, epoch: int, skip: int = 0) -> Iterator[Batch]:
        """Epoch ``epoch``'s batches, the first ``skip`` left out (resume mid-epoch)."""
        self.batches.set_epoch(epoch, skip=skip)
        return iterate(self.loader)


__all__ = ["ImageStream", "OpenStream"]
