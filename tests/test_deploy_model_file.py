"""The model file: round trip, and refusal of truncated, unsafe and mismatched files."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from dgreid.config.loader import config_from_dict
from dgreid.deploy.model_file import (
    FORMAT,
    inference_state_dict,
    load_model_file,
    make_meta,
    read_model_file,
    save_model_file,
)
from dgreid.errors import CheckpointError
from test_deploy_helpers import H, W, make_run, tiny_config, tiny_method


def test_round_trip_same_features(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    cfg = tiny_config()
    original = tiny_method(cfg)
    loaded = load_model_file(run / "model.pt")
    assert loaded.meta.method == "baseline"
    assert loaded.meta.input_size == (H, W)
    assert loaded.meta.sources == ["synth-market", "synth-duke"]
    assert loaded.meta.num_classes == 5 and loaded.meta.num_domains == 2
    x = torch.randn(4, 3, H, W)
    with torch.no_grad():
        a, b = original.embed(x), loaded.method.embed(x)
    assert a.shape == (4, loaded.meta.feat_dim)
    assert torch.allclose(a, b, atol=1e-6)
    assert not loaded.method.training
    raw = read_model_file(run / "model.pt")
    assert raw["format"] == FORMAT and config_from_dict(raw["config"]) == cfg


class WithExtractors(nn.Module):
    """A method-like module with frozen per-domain extractors and a trainable head."""

    def __init__(self) -> None:
        super().__init__()
        self.extractors = nn.ModuleList(
            nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)) for _ in range(3)
        )
        self.extractors.requires_grad_(False)
        self.head = nn.Linear(4, 2)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.flatten(1)[:, :4])


def test_frozen_extractors_dropped_and_tolerated(tmp_path: Path) -> None:
    module = WithExtractors()
    state = inference_state_dict(module)
    assert set(state) == {"head.weight", "head.bias"}
    cfg = tiny_config()
    save_model_file(tmp_path / "m.pt", module, cfg, make_meta(cfg, module, 5, 2))
    loaded = load_model_file(tmp_path / "m.pt", build=lambda c, n, d: WithExtractors())
    assert torch.equal(loaded.method.head.weight, module.head.weight)


def test_truncated_file_refused(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    data = (run / "model.pt").read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_model_file(bad)


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_code_payload_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save(
        {"format": FORMAT, "version": 1, "x": _Payload(str(marker))}, evil, pickle_protocol=2
    )
    with pytest.raises(CheckpointError, match="refused"):
        load_model_file(evil)
    assert not marker.exists()
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(_Payload(str(marker)), protocol=2))
    with pytest.raises(CheckpointError):
        load_model_file(plain)
    assert not marker.exists()


def test_foreign_file_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.pt"
    torch.save({"model": {"w": torch.zeros(2)}}, other)
    with pytest.raises(CheckpointError, match="not a dgreid model file"):
        load_model_file(other)


def test_wrong_architecture_lists_keys(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")

    class Other(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.classifier = nn.Linear(3, 5)
            self.neck = nn.Linear(2, 2)

    with pytest.raises(CheckpointError) as info:
        load_model_file(run / "model.pt", build=lambda c, n, d: Other())
    msg = str(info.value)
    assert "missing keys: neck.weight, neck.bias" in msg
    assert "unexpected keys: backbone." in msg
    assert "classifier.weight" in msg and "shape" in msg


@pytest.mark.parametrize("pretrained", ["imagenet", "/nowhere/weights.pth"])
def test_loading_needs_no_initial_weights(tmp_path: Path, pretrained: str) -> None:
    """A run that started from ImageNet (or a weight file) loads where that file is missing:
    every weight is in the model file. convnet_small has no ImageNet weights anywhere, so
    rebuilding with the stored setting would fail."""
    import dataclasses

    from dgreid import load
    from dgreid.models import build_backbone

    cfg = tiny_config()
    method = tiny_method(cfg)
    stored = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, pretrained=pretrained))
    with pytest.raises(CheckpointError):
        build_backbone(stored.model.backbone, pretrained)
    save_model_file(tmp_path / "m.pt", method, stored, make_meta(cfg, method, 5, 2))
    loaded = load_model_file(tmp_path / "m.pt")
    assert loaded.config.model.pretrained == pretrained  # the stored config, as trained
    x = torch.randn(2, 3, H, W)
    with torch.no_grad():
        assert torch.allclose(loaded.method.embed(x), method.embed(x), atol=1e-6)
    assert load(tmp_path / "m.pt").meta.feat_dim == loaded.meta.feat_dim
