"""PK and episodic batch samplers: batch structure, determinism per (seed, epoch), DDP slicing."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from dgreid.data.samplers import EpisodicSampler, PKSampler, build_sampler
from dgreid.errors import TrainingError
from dgreid.structures import ImageRecord


def make_records(domains: int = 3, pids: int = 6, per_pid: int = 5, singles: int = 0) -> list:
    """Identity ``d * 100 + p`` has ``per_pid`` images (id 0 of each domain has only 1)."""
    recs = []
    for d in range(domains):
        for p in range(pids):
            n = 1 if p < singles else per_pid - (p % 3)  # 5, 4, 3 images: some fewer than K
            recs += [ImageRecord(f"{d}/{p}/{i}.png", d * 100 + p, i % 2, d) for i in range(n)]
    return recs


def batches(sampler: PKSampler | EpisodicSampler, epoch: int, n: int) -> list[list[int]]:
    sampler.set_epoch(epoch)
    sampler.set_length(n)
    return list(sampler)


def test_pk_batch_is_p_ids_times_k_images() -> None:
    recs = make_records()
    sampler = PKSampler(recs, batch_size=16, num_instances=4, seed=0)
    out = batches(sampler, 0, 20)
    assert len(out) == len(sampler) == 20
    for batch in out:
        counts = Counter(recs[i].pid for i in batch)
        assert len(batch) == 16 and len(counts) == 4 and set(counts.values()) == {4}
        # ids are laid out in runs of K, so a rank's contiguous slice holds whole ids
        assert [recs[i].pid for i in batch[::4]] == list(counts)
    # ids with 3 images (< K=4) were drawn with replacement; every id is visited in 20 batches
    assert {recs[i].pid for b in out for i in b} == {r.pid for r in recs}


def test_pk_skips_ids_with_one_image_and_logs_the_count(caplog: pytest.LogCaptureFixture) -> None:
    recs = make_records(singles=1)
    with caplog.at_level(logging.INFO, logger="dgreid.data.samplers"):
        sampler = PKSampler(recs, batch_size=8, num_instances=2, seed=0)
    assert "skipped 3 identities with fewer than 2 images" in caplog.text
    drawn = {recs[i].pid for b in batches(sampler, 0, 30) for i in b}
    assert drawn.isdisjoint({0, 100, 200}) and len(drawn) == 15


def test_order_is_a_function_of_seed_and_epoch() -> None:
    recs = make_records()
    a = PKSampler(recs, batch_size=8, num_instances=2, seed=5)
    b = PKSampler(recs, batch_size=8, num_instances=2, seed=5)
    assert batches(a, 3, 6) == batches(b, 3, 6)
    assert batches(a, 3, 6) != batches(a, 4, 6)
    c = PKSampler(recs, batch_size=8, num_instances=2, seed=6)
    assert batches(a, 3, 6) != batches(c, 3, 6)
    # re-entering an earlier epoch (resume) reproduces it, whatever was drawn in between
    first = batches(a, 0, 6)
    batches(a, 1, 6)
    assert batches(a, 0, 6) == first


def test_episodic_batches_come_from_one_domain_each() -> None:
    recs = make_records(domains=4)
    sampler = EpisodicSampler(recs, batch_size=8, num_instances=2, seed=1)
    out = batches(sampler, 0, 200)
    domains = [{recs[i].domain for i in b} for b in out]
    assert all(len(d) == 1 for d in domains)
    counts = Counter(next(iter(d)) for d in domains)
    assert set(counts) == {0, 1, 2, 3} and min(counts.values()) > 30  # ~50 each: uniform
    assert all(Counter(recs[i].pid for i in b).most_common(1)[0][1] == 2 for b in out)


@pytest.mark.parametrize("kind", ["pk", "episodic"])
def test_ranks_take_disjoint_slices_of_one_global_stream(kind: str) -> None:
    recs = make_records()
    single = build_sampler(kind, recs, 16, 4, seed=2)
    ranks = [build_sampler(kind, recs, 16, 4, seed=2, rank=r, world_size=2) for r in (0, 1)]
    whole = batches(single, 1, 5)
    parts = [batches(s, 1, 5) for s in ranks]
    for b in range(5):
        assert parts[0][b] + parts[1][b] == whole[b]
        assert len(parts[0][b]) == len(parts[1][b]) == 8
        pids0 = {recs[i].pid for i in parts[0][b]}
        assert pids0.isdisjoint({recs[i].pid for i in parts[1][b]})


def test_invalid_settings_are_refused_with_the_numbers() -> None:
    recs = make_records(domains=1, pids=3)
    with pytest.raises(TrainingError, match="multiple of"):
        PKSampler(recs, batch_size=10, num_instances=4, seed=0)
    with pytest.raises(TrainingError, match="3 identities with 2\\+ images, fewer than the 4"):
        PKSampler(recs, batch_size=16, num_instances=4, seed=0)
    with pytest.raises(TrainingError, match="split evenly over 2"):
        PKSampler(make_records(), batch_size=12, num_instances=4, seed=0, world_size=2)
    with pytest.raises(TrainingError, match="unknown sampler 'nope'"):
        build_sampler("nope", recs, 4, 2, seed=0)
