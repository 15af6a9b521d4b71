"""The training images as a seeded stream of batches, built by the caller and opened by the
trainer once it knows the process's rank (DDP) and device.

:class:`ImageStream` says which images and how they are decoded and grouped (K images per
identity); the trainer's :class:`~dgreid.engine.settings.TrainSettings` say how many per step
and from which seed, and the method says which sampler (``Method.sampler``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from torch.utils.data import DataLoader

from dgreid.data.image_dataset import ImageDataset
from dgreid.data.samplers import build_sampler
from dgreid.data.transforms import build_transform
from dgreid.engine.loader import SeededBatches, build_train_loader, iterate
from dgreid.structures import Batch, ImageRecord


@dataclass(frozen=True)
class ImageStream:
    """``records`` resized to ``height x width`` with the training augmentation, ``num_instances``
    (K) images per identity in a batch, decoded by ``workers`` DataLoader processes."""

    records: Sequence[ImageRecord]
    num_instances: int = 4
    height: int = 64
    width: int = 32
    workers: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "records", tuple(self.records))

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
        dataset = ImageDataset(self.records, build_transform(self.height, self.width, train=True))
        return OpenStream(batches, build_train_loader(dataset, batches, self.workers, pin_memory))


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
