"""``method.stage1_align=procrustes``: one orthogonal rotation per extractor onto F_0."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import tiny_config
from dgreid.config import ConfigError
from dgreid.errors import TrainingError
from dgreid.experiments.train_run import run_training
from dgreid.methods.extractor import AlignedFeature, procrustes


def test_procrustes_recovers_a_known_rotation() -> None:
    # target = source turned by 90 degrees: (x, y) -> (-y, x), i.e. source @ [[0, 1], [-1, 0]]
    source = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]])
    turn = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    target = torch.tensor([[0.0, 1.0], [-2.0, 0.0], [-1.0, 3.0]])
    assert torch.equal(source @ turn, target)
    assert torch.allclose(procrustes(source, target), turn, atol=1e-6)


def test_procrustes_is_orthogonal_and_never_worse_than_no_rotation() -> None:
    torch.manual_seed(0)
    source, target = torch.randn(50, 6), torch.randn(50, 6)
    rot = procrustes(source, target)
    assert torch.allclose(rot @ rot.T, torch.eye(6), atol=1e-5)
    assert (source @ rot - target).norm() <= (source - target).norm()
    with pytest.raises(TrainingError, match="same images and width"):
        procrustes(source, target[:, :5])


def test_aligned_feature_turns_the_extractor_output() -> None:
    inner = nn.Linear(3, 2, bias=False)
    inner.out_features = 2
    with torch.no_grad():
        inner.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    turn = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    aligned = AlignedFeature(inner, turn)
    out = aligned(torch.tensor([[2.0, 5.0, 7.0]]))
    assert torch.equal(out, torch.tensor([[-5.0, 2.0]]))
    assert aligned.out_features == 2 and "rotation" in aligned.state_dict()
    with pytest.raises(TrainingError, match="width 2"):
        AlignedFeature(inner, torch.eye(3))


def test_stage1_align_turns_each_extractor_onto_the_first(
    episodic_run: Path, tiny_benchmark: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dgreid")
    stage1 = f"method.stage1_dir={episodic_run / 'stage1'}"
    out = tmp_path / "aligned"
    run_training(
        tiny_config("episodic", tiny_benchmark, out, stage1, "method.stage1_align=procrustes")
    )
    lines = [r.getMessage() for r in caplog.records if "aligned onto" in r.getMessage()]
    assert len(lines) == 3  # domains 1, 2, 3 onto domain 0
    for line in lines:
        before, after = map(float, re.findall(r"(\d+\.\d+) -> (\d+\.\d+)", line)[0])
        assert after <= before + 1e-6 and math.isfinite(after)
    assert (out / "model.pt").is_file()


def test_stage1_align_typo_is_refused(tiny_benchmark: Path, tmp_path: Path) -> None:
    typo = "method.stage1_align=procrustus"
    with pytest.raises(ConfigError, match="method.stage1_align='procrustus'.*expected one of"):
        run_training(tiny_config("episodic", tiny_benchmark, tmp_path / "r", typo))
    assert not (tmp_path / "r").exists()
