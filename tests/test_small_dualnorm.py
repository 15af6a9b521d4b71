"""The CPU DualNorm network puts InstanceNorm and BatchNorm where its NORMS table says."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dgreid.models import build_backbone
from dgreid.models.small_dualnorm import NORMS, ConvNetDualNorm


def test_norm_placement_matches_table() -> None:
    net = build_backbone("convnet_dualnorm", "none")
    assert isinstance(net, ConvNetDualNorm)
    for (_, norm, in_after), stage, post in zip(NORMS, net.stages, net.post):
        inner = stage[1]
        expected = nn.InstanceNorm2d if norm == "instance" else nn.BatchNorm2d
        assert type(inner) is expected
        assert isinstance(post, nn.InstanceNorm2d) == in_after
    assert isinstance(net.feat_bn, nn.BatchNorm1d)
    # the early layers normalise per instance, the later ones per batch (DualNorm)
    assert isinstance(net.stages[0][1], nn.InstanceNorm2d)
    assert all(isinstance(s[1], nn.BatchNorm2d) for s in net.stages[2:])


def test_instance_norm_removes_per_image_contrast() -> None:
    """An image and a brighter, higher-contrast copy give the same stem output (IN's purpose)."""
    net = build_backbone("convnet_dualnorm", "none").eval()
    x = torch.randn(1, 3, 32, 16)
    stem = net.stages[0]
    torch.testing.assert_close(stem(x), stem(3.0 * x + 0.0), atol=1e-4, rtol=1e-3)


def test_plain_state_is_the_shared_layers_in_the_plain_networks_layout() -> None:
    """The F_i (``convnet_small``) start from the stage-0 DualNorm network's convolutions and
    norm scales and shifts; the InstanceNorm stem hands its scale and shift to a BatchNorm with
    fresh running statistics, and the added InstanceNorms and feature BatchNorm stay out."""
    net = build_backbone("convnet_dualnorm", "none")
    for p in net.parameters():
        torch.nn.init.normal_(p)
    plain = build_backbone("convnet_small", "none")
    plain.load_start(net.plain_state(), "the stage-0 network")
    for i, (src, dst) in enumerate(zip(net.stages, plain.body)):
        assert torch.equal(src[0].weight, dst[0].weight), f"stage {i} conv"
        assert torch.equal(src[1].weight, dst[1].weight) and torch.equal(src[1].bias, dst[1].bias)
    stem = plain.body[0][1]
    assert torch.equal(stem.running_mean, torch.zeros_like(stem.running_mean))
    assert torch.equal(stem.running_var, torch.ones_like(stem.running_var))
    assert not any(k.startswith(("post.", "feat_bn.")) for k in net.plain_state())


def test_load_start_refuses_another_architecture() -> None:
    from dgreid.errors import CheckpointError

    tiny = build_backbone("resnet_tiny", "none")
    net = build_backbone("convnet_dualnorm", "none")
    before = [p.clone() for p in net.parameters()]
    with pytest.raises(CheckpointError, match="stage-0 network.*ConvNetDualNorm"):
        net.load_start(tiny.state_dict(), "the stage-0 network")
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
