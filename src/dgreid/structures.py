"""Typed containers shared by every layer: one image record, one batch, one dataset.

Fields are read by name everywhere; nothing in the toolkit indexes a tuple by position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

#: pid of a gallery-only distractor image: it never matches any query.
DISTRACTOR_PID = -1


@dataclass(frozen=True)
class ImageRecord:
    """One person crop on disk.

    ``pid`` is the identity (dataset-local in a loader, global once sources are merged),
    ``camid`` the camera index (0-based), ``domain`` the index of the source domain the image
    belongs to (0 for a single dataset). ``pid == DISTRACTOR_PID`` marks a distractor.
    """

    path: str
    pid: int
    camid: int
    domain: int = 0


@dataclass
class ReIDDataset:
    """The images of one dataset as a loader found them.

    ``records`` holds every usable image (junk excluded); ``train``/``query``/``gallery`` hold the
    dataset's own published partition where it has one (empty lists otherwise). DG protocols train
    on ``records`` of a source and draw evaluation splits from ``records`` of a target.
    """

    name: str
    root: Path
    records: list[ImageRecord]
    train: list[ImageRecord] = field(default_factory=list)
    query: list[ImageRecord] = field(default_factory=list)
    gallery: list[ImageRecord] = field(default_factory=list)
    #: evaluation protocol: ``grid``, ``ilids``, ``prid``, ``viper`` or ``standard``
    protocol: str = "standard"

    @property
    def num_pids(self) -> int:
        return len({r.pid for r in self.records if r.pid != DISTRACTOR_PID})

    @property
    def num_images(self) -> int:
        return len(self.records)

    @property
    def num_cams(self) -> int:
        return len({r.camid for r in self.records})


@dataclass
class Batch:
    """A mini-batch: images plus the per-image fields of :class:`ImageRecord` as tensors."""

    images: torch.Tensor
    pids: torch.Tensor
    camids: torch.Tensor
    domains: torch.Tensor
    paths: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def pin_memory(self) -> Batch:
        """Page-locked copy (the DataLoader's ``pin_memory=True`` calls this in its thread)."""
        return Batch(
            images=self.images.pin_memory(),
            pids=self.pids.pin_memory(),
            camids=self.camids.pin_memory(),
            domains=self.domains.pin_memory(),
            paths=self.paths,
        )

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        return Batch(
            images=self.images.to(device, non_blocking=non_blocking),
            pids=self.pids.to(device, non_blocking=non_blocking),
            camids=self.camids.to(device, non_blocking=non_blocking),
            domains=self.domains.to(device, non_blocking=non_blocking),
            paths=self.paths,
        )


def collate_batch(items: list[tuple[torch.Tensor, ImageRecord]]) -> Batch:
    """Stack ``(image_tensor, record)`` pairs into a :class:`Batch` (DataLoader ``collate_fn``)."""
    return batch_of(torch.stack([img for img, _ in items]), [rec for _, rec in items])


def batch_of(images: torch.Tensor, recs: list[ImageRecord]) -> Batch:
    """The :class:`Batch` of ``images`` (one per record, stacked) and the fields of ``recs``."""
    return Batch(
        images=images,
        pids=torch.tensor([r.pid for r in recs], dtype=torch.long),
        camids=torch.tensor([r.camid for r in recs], dtype=torch.long),
        domains=torch.tensor([r.domain for r in recs], dtype=torch.long),
        paths=[r.path for r in recs],
    )
