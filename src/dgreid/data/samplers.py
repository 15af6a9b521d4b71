"""Batch samplers: PK batches over the union of sources, and episodic batches from one domain.

Both yield lists of dataset indices (one list per iteration) and run for a fixed number of
iterations per epoch that the trainer chooses. The stream of epoch ``e`` is a pure function of
``(seed, e)``: a resumed run redraws exactly the batches the interrupted one would have drawn.

Distributed data parallel: ``batch_size`` is the GLOBAL batch. Every rank draws the same global
stream and keeps its contiguous slice of ``batch_size // world_size`` indices, which holds whole
identities (``P / world_size`` ids x K images each), so a rank can still mine triplets within its
slice. A run on N ranks therefore sees the same images per iteration as a one-process run with the
same ``batch_size``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np

from dgreid.errors import TrainingError
from dgreid.structures import ImageRecord

log = logging.getLogger(__name__)


def epoch_rng(seed: int, epoch: int, salt: int = 0) -> np.random.Generator:
    """The generator of epoch ``epoch``: depends on nothing but ``(seed, epoch, salt)``."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, salt]))


class _IdentityCycle:
    """Hands out identities in shuffled passes; each id comes with K of its image indices."""

    def __init__(self, pids: list[int], images: dict[int, list[int]], k: int) -> None:
        self.pids = pids
        self.images = images
        self.k = k
        self.queue: list[int] = []

    def take(self, p: int, rng: np.random.Generator) -> list[int]:
        """``p`` distinct ids (a fresh shuffled pass starts when the current one runs out)."""
        chosen: list[int] = []
        while len(chosen) < p:
            if not self.queue:
                self.queue = [self.pids[i] for i in rng.permutation(len(self.pids))]
            pid = self.queue.pop()
            if pid not in chosen:
                chosen.append(pid)
        out: list[int] = []
        for pid in chosen:
            imgs = self.images[pid]
            pick = rng.choice(len(imgs), size=self.k, replace=len(imgs) < self.k)
            out.extend(imgs[i] for i in pick)
        return out


class _PKBase:
    """Shared plumbing: grouping, validation, epoch, DDP slicing."""

    def __init__(
        self,
        records: Sequence[ImageRecord],
        batch_size: int,
        num_instances: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if num_instances < 1 or batch_size % num_instances:
            raise TrainingError(
                f"data.batch_size ({batch_size}) must be a multiple of "
                f"data.num_instances ({num_instances})"
            )
        self.num_pids_per_batch = batch_size // num_instances
        if self.num_pids_per_batch % world_size:
            raise TrainingError(
                f"a batch holds {self.num_pids_per_batch} identities, which cannot be split "
                f"evenly over {world_size} processes; choose data.batch_size / "
                f"data.num_instances divisible by the number of processes"
            )
        if not 0 <= rank < world_size:
            raise TrainingError(f"rank {rank} is outside world size {world_size}")
        self.batch_size = batch_size
        self.num_instances = num_instances
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.length = 0
        self.domain_ids: dict[int, list[int]] = defaultdict(list)
        self.images: dict[int, list[int]] = defaultdict(list)
        domains_of: dict[int, int] = {}
        for index, rec in enumerate(records):
            self.images[rec.pid].append(index)
            domains_of[rec.pid] = rec.domain
        skipped = [pid for pid, imgs in self.images.items() if len(imgs) < 2]
        if skipped:
            log.info("sampler: skipped %d identities with fewer than 2 images", len(skipped))
        for pid in sorted(self.images):
            if len(self.images[pid]) >= 2:
                self.domain_ids[domains_of[pid]].append(pid)
        self._prepare()

    def _prepare(self) -> None:
        """What a subclass draws from: set up and checked once the records are grouped."""

    def set_epoch(self, epoch: int) -> None:
        """Select the stream of ``epoch`` (call before iterating, as with DistributedSampler)."""
        self.epoch = epoch

    def set_length(self, iters_per_epoch: int) -> None:
        """Number of batches one epoch yields (chosen by the trainer)."""
        self.length = iters_per_epoch

    def __len__(self) -> int:
        return self.length

    def _check_pids(self, name: str, pids: list[int]) -> None:
        if len(pids) < self.num_pids_per_batch:
            raise TrainingError(
                f"{name} has {len(pids)} identities with 2+ images, fewer than the "
                f"{self.num_pids_per_batch} a batch needs (data.batch_size / data.num_instances)"
            )

    def rank_slice(self, batch: list[int]) -> list[int]:
        """This rank's contiguous share of a global batch (whole identities)."""
        per_rank = self.batch_size // self.world_size
        return batch[self.rank * per_rank : (self.rank + 1) * per_rank]

    def global_batches(self) -> Iterator[list[int]]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.global_batches():
            yield self.rank_slice(batch)


class PKSampler(_PKBase):
    """P identities x K images per batch, identities drawn from all sources together.

    Identities with fewer than 2 images are skipped (their count is logged once); ids with fewer
    than K images are sampled with replacement.
    """

    def _prepare(self) -> None:
        self.pids = sorted(pid for ids in self.domain_ids.values() for pid in ids)
        self._check_pids("the training set", self.pids)

    def global_batches(self) -> Iterator[list[int]]:
        rng = epoch_rng(self.seed, self.epoch)
        cycle = _IdentityCycle(self.pids, self.images, self.num_instances)
        for _ in range(self.length):
            yield cycle.take(self.num_pids_per_batch, rng)


class EpisodicSampler(_PKBase):
    """Each batch is a PK batch from ONE source domain, the domain drawn uniformly per episode
    (the paper's episodes)."""

    def _prepare(self) -> None:
        self.domains = sorted(self.domain_ids)
        if not self.domains:
            raise TrainingError("the training set has no identity with 2 or more images")
        for d in self.domains:
            self._check_pids(f"source domain {d}", self.domain_ids[d])

    def global_batches(self) -> Iterator[list[int]]:
        rng = epoch_rng(self.seed, self.epoch)
        cycles = {
            d: _IdentityCycle(self.domain_ids[d], self.images, self.num_instances)
            for d in self.domains
        }
        for _ in range(self.length):
            domain = self.domains[int(rng.integers(len(self.domains)))]
            yield cycles[domain].take(self.num_pids_per_batch, rng)


def build_sampler(
    kind: str,
    records: Sequence[ImageRecord],
    batch_size: int,
    num_instances: int,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
) -> PKSampler | EpisodicSampler:
    """The sampler a method asks for by name (``Method.sampler``)."""
    samplers: dict[str, type[PKSampler] | type[EpisodicSampler]] = {
        "pk": PKSampler,
        "episodic": EpisodicSampler,
    }
    if kind not in samplers:
        raise TrainingError(f"unknown sampler {kind!r}; valid: {', '.join(samplers)}")
    return samplers[kind](records, batch_size, num_instances, seed, rank, world_size)
