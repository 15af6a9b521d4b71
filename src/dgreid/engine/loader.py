"""The training DataLoader: reproducible augmentation and clean data errors from workers.

Each image of the global stream gets its own seed, derived from ``(seed, epoch, position in the
epoch)``; the random flip/crop of that image depends on nothing else. So augmentation is the same
with 0 or 8 workers, persistent or not, on 1 or N ranks, and after a resume in the middle of an
epoch (the already-done batches are skipped by position, without loading them).

A :class:`~dgreid.errors.DatasetError` raised while decoding in a worker comes back as a value
and is re-raised in the main process with its own message, not a worker stack trace.

With the decoded-image cache (:class:`~dgreid.data.image_cache.CachedImageDataset`) the loader
fetches whole batches: the dataset gets the batch's ``(index, item_seed)`` pairs at once and
augments them as one tensor, each image under its own seed as above.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from dgreid.data.image_cache import CachedImageDataset
from dgreid.data.image_dataset import ImageDataset
from dgreid.data.samplers import EpisodicSampler, PKSampler
from dgreid.errors import DatasetError
from dgreid.structures import Batch, collate_batch

_SEED_MOD = 2**62


@dataclass
class LoadFailure:
    """Stands in for a sample (or batch) that could not be decoded."""

    message: str


class SeededBatches:
    """Batch sampler over ``(index, item_seed)`` pairs; resumes at ``skip`` batches in."""

    def __init__(self, sampler: PKSampler | EpisodicSampler, seed: int) -> None:
        self.sampler = sampler
        self.seed = seed
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return max(len(self.sampler) - self.skip, 0)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        seq = np.random.SeedSequence([self.seed, self.epoch, 1])
        base = int(seq.generate_state(1, np.uint64)[0]) % _SEED_MOD
        for b, batch in enumerate(self.sampler.global_batches()):
            if b < self.skip:
                continue
            seeds = [(base + b * len(batch) + j) % _SEED_MOD for j in range(len(batch))]
            yield list(zip(self.sampler.rank_slice(batch), self.sampler.rank_slice(seeds)))


class SeededDataset(Dataset):
    """``dataset[index]`` under the RNG seed that comes with the index."""

    def __init__(self, dataset: ImageDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple[int, int]) -> tuple[torch.Tensor, object] | LoadFailure:
        index, seed = item
        if get_worker_info() is None:  # main process: leave the training RNG untouched
            py_state = random.getstate()
            with torch.random.fork_rng(devices=[]):
                try:
                    return self._load(index, seed)
                finally:
                    random.setstate(py_state)
        return self._load(index, seed)

    def _load(self, index: int, seed: int) -> tuple[torch.Tensor, object] | LoadFailure:
        torch.manual_seed(seed)
        random.seed(seed)
        try:
            return self.dataset[index]
        except DatasetError as e:
            return LoadFailure(str(e))


def collate(items: Sequence[object]) -> Batch | LoadFailure:
    """``collate_batch``, or the first failure in the batch."""
    for item in items:
        if isinstance(item, LoadFailure):
            return item
    return collate_batch(items)  # type: ignore[arg-type]


def _worker_init(worker_id: int) -> None:
    """Workers ignore SIGINT (Ctrl-C reaches the whole process group): the main process handles
    it (finish the step, save). SIGTERM keeps its default: multiprocessing stops workers with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def build_train_loader(
    dataset: ImageDataset | CachedImageDataset,
    batches: SeededBatches,
    workers: int,
    pin_memory: bool,
) -> DataLoader:
    """DataLoader over ``batches``; workers persist across epochs when there are any. A
    :class:`CachedImageDataset` is asked for whole batches, an :class:`ImageDataset` for one
    image at a time (decoded under the image's seed, then collated)."""
    loader = partial(
        DataLoader,
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
        worker_init_fn=_worker_init if workers > 0 else None,
        prefetch_factor=4 if workers > 0 else None,
    )
    if isinstance(dataset, CachedImageDataset):
        return loader(dataset, sampler=batches, batch_size=None, collate_fn=_as_is)
    return loader(SeededDataset(dataset), batch_sampler=batches, collate_fn=collate)


def _as_is(batch: object) -> object:
    """The collate function of a dataset that returns whole :class:`Batch` values."""
    return batch


def iterate(loader: DataLoader) -> Iterator[Batch]:
    """Batches of ``loader``; a decode failure becomes a clean :class:`DatasetError`."""
    for batch in loader:
        if isinstance(batch, LoadFailure):
            raise DatasetError(batch.message)
        yield batch
