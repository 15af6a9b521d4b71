"""Backbones: the whole registry's interface, DualNorm norm placement, local weight loading."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models import mobilenet_v2, resnet18

from dgreid.errors import CheckpointError, DgreidError
from dgreid.models import BACKBONES, Backbone, build_backbone, grad_reverse
from dgreid.models import backbone as backbone_mod
from dgreid.models.dualnorm import STAGES, MobileNetV2DualNorm, instance_norm_block_indices


@pytest.mark.parametrize("name", BACKBONES.names())
def test_every_backbone_forward_backward_shape(name: str) -> None:
    torch.manual_seed(0)
    net = build_backbone(name, "none")
    assert isinstance(net, Backbone)
    x = torch.randn(2, 3, 64, 32)
    out = net(x)
    assert out.shape == (2, net.out_features)
    out.pow(2).mean().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads)
    assert all(torch.isfinite(g).all() for g in grads if g is not None)
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), net.forward_features(x))


def test_small_nets_are_small() -> None:
    for name in ("convnet_small", "resnet_tiny"):
        n = sum(p.numel() for p in build_backbone(name).parameters())
        assert 100_000 < n < 1_000_000, (name, n)


def test_dualnorm_norm_placement() -> None:
    net = MobileNetV2DualNorm(width_mult=1.0)
    # stem: affine InstanceNorm replaces BatchNorm
    stem_norm = net.features[0][1]
    assert isinstance(stem_norm, nn.InstanceNorm2d) and stem_norm.affine
    # IN after every block of the 16/24/32/64/96 stages, i.e. blocks 1..13, none after 14..18
    assert instance_norm_block_indices() == list(range(1, 14))
    assert sorted(int(k) for k in net.post_in) == list(range(1, 14))
    in_stage_channels = [st.c for st in STAGES if st.instance_norm_after_block]
    assert in_stage_channels == [16, 24, 32, 64, 96]
    for key, norm in net.post_in.items():
        assert isinstance(norm, nn.InstanceNorm2d)
        assert norm.num_features == net.features[int(key)].out_channels
    # 160/320 stages and the final 1x1 conv: BatchNorm only, no InstanceNorm anywhere inside
    for i in range(14, 19):
        kinds = {type(m) for m in net.features[i].modules()}
        assert nn.BatchNorm2d in kinds and nn.InstanceNorm2d not in kinds
    assert net.features[18][0].out_channels == 1280 == net.out_features
    assert isinstance(net.feat_bn, nn.BatchNorm1d)
    # the IN stages' blocks keep their own BatchNorms
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.features[5].modules())


def test_dualnorm_width_mult() -> None:
    net = build_backbone("mobilenetv2_dualnorm", width_mult=0.5)
    assert net.features[1].out_channels == 8 and net.out_features == 1280


def test_fixed_width_backbone_refuses_width_mult() -> None:
    with pytest.raises(DgreidError, match="width_mult"):
        build_backbone("resnet18", width_mult=0.5)


def test_unknown_backbone_lists_names() -> None:
    with pytest.raises(KeyError, match="resnet50"):
        build_backbone("resnet5")


def test_weights_from_path_torchvision_files(tmp_path: Path) -> None:
    ref = resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(ref.state_dict(), path)
    net = build_backbone("resnet18", str(path))
    assert torch.equal(
        net.state_dict()["layer4.1.conv2.weight"], ref.state_dict()["layer4.1.conv2.weight"]
    )

    mref = mobilenet_v2(weights=None)
    mpath = tmp_path / "mbv2.pth"
    torch.save(mref.state_dict(), mpath)
    dn = build_backbone("mobilenetv2_dualnorm", str(mpath))
    assert torch.equal(
        dn.state_dict()["features.5.conv.2.weight"], mref.state_dict()["features.5.conv.2.weight"]
    )
    assert torch.equal(dn.features[0][1].weight, mref.features[0][1].weight)


def test_bad_weights_path_and_mismatch(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a file"):
        build_backbone("resnet18", str(tmp_path / "missing.pth"))
    path = tmp_path / "wrong.pth"
    torch.save({"foo.weight": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match="do not fit"):
        build_backbone("resnet18", str(path))


def test_auto_without_cache_trains_from_scratch_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(backbone_mod, "_warned_scratch", set())
    with caplog.at_level(logging.WARNING, logger="dgreid.models.backbone"):
        build_backbone("resnet18", "auto")
        build_backbone("resnet18", "auto")
    msgs = [r.getMessage() for r in caplog.records if "from scratch" in r.getMessage()]
    assert len(msgs) == 1 and "resnet18-f37072fd.pth" in msgs[0]


def test_auto_loads_from_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    ref = resnet18(weights=None)
    (tmp_path / "checkpoints").mkdir()
    torch.save(ref.state_dict(), tmp_path / "checkpoints" / "resnet18-f37072fd.pth")
    net = build_backbone("resnet18", "auto")
    assert torch.equal(net.conv1.weight, ref.conv1.weight)


def test_grad_reverse_flips_gradient_sign() -> None:
    # y = 3 * GRL(x), L = sum(y): dL/dy = 1 -> dL/dx = -weight * 3 (hand check)
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = grad_reverse(x, 0.5)
    assert torch.equal(y, x)
    (3 * y).sum().backward()
    assert x.grad is not None
    assert torch.allclose(x.grad, torch.tensor([-1.5, -1.5]))
