"""The CPU DualNorm network puts InstanceNorm and BatchNorm where its NORMS table says."""

from __future__ import annotations

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
