"""Same config and seed, same numbers on CPU, whatever ran before in the process."""

from __future__ import annotations

from pathlib import Path

import torch

from conftest import tiny_config
from dgreid.experiments.train_run import run_training


def _weights(run: Path) -> dict[str, torch.Tensor]:
    data = torch.load(run / "model.pt", map_location="cpu", weights_only=True)
    return data["state_dict"]  # type: ignore[no-any-return]


def test_two_runs_same_weights_despite_rng_use_in_between(
    tiny_benchmark: Path, tmp_path: Path
) -> None:
    runs = []
    for name in ("a", "b"):
        cfg = tiny_config("episodic", tiny_benchmark, tmp_path / name, "train.max_iters=2")
        torch.rand(1000)  # the process's random state differs before each run
        run_training(cfg, evaluate=False)
        runs.append(tmp_path / name)
    a, b = (_weights(r) for r in runs)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
