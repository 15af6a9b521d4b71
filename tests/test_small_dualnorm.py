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


def test_load_start_takes_a_plain_small_networks_weights() -> None:
    """F (DualNorm) starts from the stage-0 ``convnet_small``: every conv and norm it shares."""
    plain = build_backbone("convnet_small", "none")
    for p in plain.parameters():
        torch.nn.init.normal_(p)
    for m in plain.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.fill_(0.5)
    net = build_backbone("convnet_dualnorm", "none")
    feat_bn = {k: v.clone() for k, v in net.feat_bn.state_dict().items()}
    net.load_start(plain.state_dict(), "the stage-0 network")
    for i, (src, dst) in enumerate(zip(plain.body, net.stages)):
        assert torch.equal(src[0].weight, dst[0].weight), f"stage {i} conv"
        assert torch.equal(src[1].weight, dst[1].weight) and torch.equal(src[1].bias, dst[1].bias)
        if isinstance(dst[1], nn.BatchNorm2d):
            assert torch.equal(dst[1].running_mean, torch.full_like(dst[1].running_mean, 0.5))
    # the instance-norm stem keeps no running statistics; the layers the plain net lacks stay
    assert net.stages[0][1].running_mean is None
    assert all(torch.equal(v, net.feat_bn.state_dict()[k]) for k, v in feat_bn.items())


def test_load_start_refuses_another_architecture() -> None:
    from dgreid.errors import CheckpointError

    tiny = build_backbone("resnet_tiny", "none")
    net = build_backbone("convnet_dualnorm", "none")
    before = [p.clone() for p in net.parameters()]
    with pytest.raises(CheckpointError, match="stage-0 network.*ConvNetDualNorm"):
        net.load_start(tiny.state_dict(), "the stage-0 network")
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
