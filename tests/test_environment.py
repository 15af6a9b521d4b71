"""environment.json: what a run's numbers depend on besides its config, and resume warnings."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from dgreid.engine.environment import (
    environment_changes,
    numeric_environment,
    record_environment,
)


def test_numeric_environment_names_the_arithmetic() -> None:
    env = numeric_environment(torch.device("cpu"), threads=3)
    assert env["threads"] == 3 and env["device"] == "cpu"
    assert env["torch"] == torch.__version__
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert "gpu" not in env


def test_environment_changes_lists_each_differing_key() -> None:
    saved = {"torch": "2.14.1", "cpu_capability": "AVX512", "threads": 1, "gone": "x"}
    now = {"torch": "2.14.1", "cpu_capability": "AVX2", "threads": 2}
    assert environment_changes(saved, now) == [
        "cpu_capability: AVX512 -> AVX2",
        "gone: x -> (none)",
        "threads: 1 -> 2",
    ]
    assert environment_changes(now, dict(now)) == []


def test_new_run_writes_and_resume_keeps_the_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dgreid")
    first = {"torch": "2.14.1", "cpu_capability": "AVX512", "threads": 1}
    record_environment(tmp_path, first, resume=False)
    path = tmp_path / "environment.json"
    assert json.loads(path.read_text()) == first

    record_environment(tmp_path, dict(first), resume=True)
    assert not caplog.records

    record_environment(tmp_path, {**first, "cpu_capability": "AVX2"}, resume=True)
    assert json.loads(path.read_text()) == first  # the run's start is what it records
    (warning,) = caplog.records
    assert "cpu_capability: AVX512 -> AVX2" in warning.getMessage()
    assert str(path) in warning.getMessage()

    record_environment(tmp_path, {**first, "threads": 2}, resume=False)  # --overwrite: new run
    assert json.loads(path.read_text())["threads"] == 2


def test_resume_without_a_record_writes_one(tmp_path: Path) -> None:
    """A run folder from before environment.json existed gets one on resume, no warning."""
    record_environment(tmp_path, {"threads": 1}, resume=True)
    assert json.loads((tmp_path / "environment.json").read_text()) == {"threads": 1}
