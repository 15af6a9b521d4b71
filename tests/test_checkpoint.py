"""Checkpoints: round trip, and every foreign or broken file refused with a clear message."""

from __future__ import annotations

import io
import os
import pickle
import random
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from dgreid.engine.checkpoint_file import (
    config_diff,
    load_checkpoint,
    load_model_weights,
    load_state_dict_checked,
    save_checkpoint,
    save_model,
)
from dgreid.errors import CheckpointError
from dgreid.utils.torch_file import safe_torch_load


class Payload:
    """Unpickling this runs ``os.system`` and creates ``target``: the attack being refused."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.target}",))


def net() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))


def test_round_trip_keeps_header_and_tensors(tmp_path: Path) -> None:
    model = net()
    save_model(tmp_path / "m.pt", model, method="baseline", config={"train": {"lr": 0.1}})
    state = load_checkpoint(tmp_path / "m.pt", expected_kind="model", expected_method="baseline")
    assert state["format"] == "dgreid-checkpoint" and state["version"] == 1
    assert state["config"] == {"train": {"lr": 0.1}}
    other = net()
    load_model_weights(other, tmp_path / "m.pt", method="baseline")
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("wrapped", [True, False])
def test_pickle_with_code_payload_is_refused_and_not_run(tmp_path: Path, wrapped: bool) -> None:
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    if wrapped:  # a torch zip file whose pickle carries the payload
        buf = io.BytesIO()
        torch.save({"format": "dgreid-checkpoint", "model": Payload(target)}, buf)
        path.write_bytes(buf.getvalue())
    else:  # a bare pickle
        path.write_bytes(pickle.dumps(Payload(target), protocol=2))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and "refused" in str(err.value)
    assert "weights_only" not in str(err.value)  # no advice to load it unsafely
    assert not target.exists()
    # the payload is real: an unsafe load would have run it
    if wrapped:
        torch.load(path, weights_only=False)
    else:
        pickle.loads(path.read_bytes())
    assert target.exists()


def test_truncated_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"kind": "model", "method": "x", "model": net().state_dict()})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=f"{path}: cannot read checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_foreign_files_and_other_methods_are_refused(tmp_path: Path) -> None:
    torch.save({"state_dict": net().state_dict()}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a dgreid checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    save_model(tmp_path / "b.pt", net(), method="baseline")
    with pytest.raises(CheckpointError, match="method 'baseline', but this run uses .*'episodic'"):
        load_checkpoint(tmp_path / "b.pt", expected_method="episodic")
    with pytest.raises(CheckpointError, match="is a 'model' checkpoint, expected 'train-state'"):
        load_checkpoint(tmp_path / "b.pt", expected_kind="train-state")


def test_architecture_mismatch_lists_keys_and_class(tmp_path: Path) -> None:
    state = net().state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["2.bias"]
    state["0.weight"] = torch.zeros(5, 4)
    with pytest.raises(CheckpointError) as err:
        load_state_dict_checked(net(), state, "run/last.pt")
    msg = str(err.value)
    assert msg.startswith("run/last.pt: weights do not fit Sequential")
    assert "missing keys: 2.bias" in msg and "unexpected keys: extra.weight" in msg
    assert "0.weight (5, 4) vs (3, 4)" in msg


def test_config_diff_lists_changed_keys() -> None:
    saved = {"train": {"lr": 0.01, "seed": 0}, "data": {"height": 64}}
    current = {"train": {"lr": 0.02, "seed": 0}, "data": {"height": 64, "width": 32}}
    assert config_diff(saved, current) == ["data.width: '<absent>' -> 32", "train.lr: 0.01 -> 0.02"]
    assert config_diff(saved, saved) == []


@pytest.mark.parametrize("seed", range(12))
def test_random_bytes_are_not_a_checkpoint(seed: int, tmp_path: Path) -> None:
    path = tmp_path / "noise.pt"
    rng = random.Random(seed)
    path.write_bytes(bytes([rng.choice(range(0x81, 0x100))]) + rng.randbytes(255))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning torch lets through fails the test
        with pytest.raises(CheckpointError) as e:
            safe_torch_load(path, "checkpoint")
    assert str(e.value).startswith(f"{path}: not a PyTorch checkpoint (no zip/pickle header)")
    assert "could run code" not in str(e.value)


def test_empty_torch_file(tmp_path: Path) -> None:
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.pt: cannot read model file: empty file"):
        safe_torch_load(tmp_path / "empty.pt", "model file")
