"""The training run's torch thread count: each branch of the rule, and that it is applied."""

from __future__ import annotations

import os

import pytest
import torch

from dgreid.engine.threads import choose_threads, set_training_threads, usable_cores
from dgreid.errors import TrainingError


def test_requested_is_taken_as_is() -> None:
    assert choose_threads(3, cpu_count=16, local_world_size=4, workers=8, omp_env="2") == (
        3,
        "train.threads=3",
    )


def test_negative_request_is_refused() -> None:
    with pytest.raises(TrainingError, match="train.threads must be >= 0"):
        choose_threads(-1, cpu_count=4)


def test_users_omp_num_threads_is_respected() -> None:
    assert choose_threads(0, cpu_count=16, workers=4, omp_env="6") == (6, "OMP_NUM_THREADS=6")
    assert choose_threads(0, cpu_count=16, local_world_size=2, omp_env="3")[0] == 3


def test_invalid_omp_num_threads_is_ignored() -> None:
    for bad in ("", "zero", "0", "-2"):
        assert choose_threads(0, cpu_count=8, omp_env=bad) == (8, "automatic: 8 cores")


def test_torchruns_default_omp_1_is_not_the_users_choice() -> None:
    # torchrun exports OMP_NUM_THREADS=1 for several local processes when it is unset
    n, why = choose_threads(0, cpu_count=16, local_world_size=4, omp_env="1")
    assert (n, why) == (4, "automatic: 16 cores / 4 local processes")
    assert choose_threads(0, cpu_count=16, local_world_size=1, omp_env="1")[0] == 1


def test_cores_are_shared_between_local_processes() -> None:
    assert choose_threads(0, cpu_count=16, local_world_size=4)[0] == 4
    assert choose_threads(0, cpu_count=2, local_world_size=4)[0] == 1  # at least one


def test_a_core_is_left_to_the_data_workers() -> None:
    # 2 cores + a DataLoader worker pool: the case measured 9x slower with 2 threads
    assert choose_threads(0, cpu_count=2, workers=4) == (
        1,
        "automatic: 2 cores, one left for the data workers",
    )
    assert choose_threads(0, cpu_count=16, local_world_size=2, workers=2)[0] == 7
    assert choose_threads(0, cpu_count=1, workers=2) == (1, "automatic: 1 core")


def test_all_cores_without_workers() -> None:
    assert choose_threads(0, cpu_count=2, workers=0) == (2, "automatic: 2 cores")


def test_set_training_threads_applies_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "100000")  # more processes than cores: one thread each
    try:
        assert set_training_threads(0, workers=0)[0] == 1
        assert torch.get_num_threads() == 1
        assert set_training_threads(2, workers=0) == (2, "train.threads=2")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_usable_cores_is_a_positive_count() -> None:
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)
