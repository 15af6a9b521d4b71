"""The episodic methods' one start rule, with ImageNet (here: user) weights present: stage 0
trains F's network from them on the union of the sources, F starts from it whole and every F_i
from its plain layers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.models import MobileNetV2

from conftest import tiny_config
from dgreid.experiments import stage1, train_run
from dgreid.utils.torch_file import read_state_dict

Starts = dict[str, dict[str, torch.Tensor]]


def _recording(module: object, starts: Starts, name_of: object) -> type:
    class Recording(module.Trainer):  # type: ignore[attr-defined,misc,name-defined]
        def __init__(self, method, stream, out, settings, labels, **kw) -> None:  # type: ignore[no-untyped-def]
            state = method.backbone.state_dict()
            starts[name_of(labels)] = {k: v.clone() for k, v in state.items()}  # type: ignore[operator]
            super().__init__(method, stream, out, settings, labels, **kw)

    return Recording


@pytest.mark.parametrize("f_network", ["mobilenetv2_dualnorm", "mobilenetv2"])
def test_f_and_every_extractor_start_from_the_stage0_network(
    f_network: str, tiny_benchmark: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DualNorm F: the F_i take the stage-0 network's plain layers; a plain F of the
    extractors' own architecture (``episodic_plus``'s real config): the F_i take all of it."""
    weights = tmp_path / "mobilenet_v2.pth"
    torch.manual_seed(5)
    torch.save(MobileNetV2().state_dict(), weights)  # stands in for the ImageNet file
    starts: Starts = {}
    monkeypatch.setattr(stage1, "Trainer", _recording(stage1, starts, lambda lb: lb.name))
    monkeypatch.setattr(train_run, "Trainer", _recording(train_run, starts, lambda lb: "F"))
    out = tmp_path / "run"
    cfg = tiny_config(
        "episodic",
        tiny_benchmark,
        out,
        f"model.backbone={f_network}",
        "model.extractor=mobilenetv2",
        f"model.pretrained={weights}",
        "eval.num_splits=1",
        "data.height=64",  # at 32x16 InstanceNorm would see 2x1 maps in MobileNetV2
        "data.width=32",
        "train.lr=0.001",
    )
    train_run.run_training(cfg)

    domains = list(cfg.data.sources)
    assert sorted(starts) == sorted(["F", "stage1 stage0", *(f"stage1 {d}" for d in domains)])
    # stage 0 is F's architecture and starts from the weight file (InstanceNorms new)
    given = torch.load(weights, weights_only=True)
    stage0_start = starts["stage1 stage0"]
    assert any(k.startswith("post_in.") for k in stage0_start) == (f_network != "mobilenetv2")
    conv = "features.5.conv.0.0.weight"
    assert torch.equal(stage0_start[conv], given[conv])
    # F starts as the trained stage-0 network, every tensor of it
    (file,) = (out / "stage1").glob("stage0-*/extractor.pt")
    trained = {k[9:]: v for k, v in read_state_dict(file).items() if k.startswith("backbone.")}
    trained_key = "post_in.1.weight" if f_network != "mobilenetv2" else conv
    assert not torch.equal(trained[trained_key], stage0_start[trained_key])
    assert set(starts["F"]) == set(trained)
    assert all(torch.equal(starts["F"][k], v) for k, v in trained.items())
    # every F_i starts from the stage-0 network's plain layers (same convolutions and norms)
    for d in domains:
        start = starts[f"stage1 {d}"]
        assert not any(k.startswith(("post_in.", "feat_bn.")) for k in start)
        shared = [k for k in start if k.endswith(("weight", "bias")) and k in trained]
        if f_network == "mobilenetv2":
            shared = list(start)  # every tensor, running statistics too
        assert len(shared) > 100
        assert all(torch.equal(start[k], trained[k]) for k in shared), d
