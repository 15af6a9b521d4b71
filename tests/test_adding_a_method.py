"""Adding a method takes its file, its config and a test: the worked example of docs/methods.md
(tests/example_method.py) is registered by one import, reads its own key from a config, and
trains end to end on the tiny benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

import example_method  # noqa: F401  (the one import line: registers "cosine")
from conftest import tiny_config
from dgreid.cli.main import main
from dgreid.config import ConfigError
from dgreid.experiments.train_run import run_training
from dgreid.methods import METHODS
from example_method import CosineMethod, CosineSettings


def write_config(tmp_path: Path) -> Path:
    """The example's config, as configs/synthetic/cosine.yaml would be."""
    base = Path(__file__).resolve().parent.parent / "configs" / "synthetic" / "base.yaml"
    path = tmp_path / "cosine.yaml"
    path.write_text(f"base: {base}\nmethod:\n  name: cosine\n  scale: 30.0\n")
    return path


def test_the_example_is_registered_with_its_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert METHODS.get("cosine") is CosineMethod
    assert main(["config", str(write_config(tmp_path))]) == 0
    method = yaml.safe_load(capsys.readouterr().out)["method"]
    assert method == {"name": "cosine", "label_smooth": 0.1, "margin": 0.3, "scale": 30.0}
    with pytest.raises(ConfigError, match=r"method.scale=-1.0 .*a number > 0"):
        tiny_config(write_config(tmp_path), tmp_path, tmp_path / "run", "method.scale=-1")


def test_the_example_trains_two_iterations(tiny_benchmark: Path, tmp_path: Path) -> None:
    cfg = tiny_config(write_config(tmp_path), tiny_benchmark, tmp_path / "run")
    assert cfg.method.own == CosineSettings(scale=30.0)
    result = run_training(cfg)
    lines = (result.out_dir / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(line) for line in lines]
    assert [s["step"] for s in steps if "loss" in s] == [1, 2]
    assert all(torch.isfinite(torch.tensor(s["loss"])) for s in steps if "loss" in s)
    assert result.result is not None and result.model_path.is_file()
