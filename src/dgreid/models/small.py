"""Small CPU networks for the synthetic benchmark (64x32 input, a few hundred K parameters).

No ImageNet weights exist for them: ``pretrained="auto"`` trains from scratch (said once).
"""

from __future__ import annotations

import torch
from torch import nn

from dgreid.models.backbone import BACKBONES, Backbone


def _ch(c: int, width_mult: float) -> int:
    return max(8, int(round(c * width_mult)))


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


#: Horizontal stripes pooled separately by the small nets (part-based pooling, as PCB does):
#: at these tiny sizes a global average would throw away where a colour is (shirt vs trousers).
STRIPES = 4


def stripe_pool(x: torch.Tensor, stripes: int = STRIPES) -> torch.Tensor:
    """Average each of ``stripes`` horizontal bands of a feature map, concatenated."""
    return nn.functional.adaptive_avg_pool2d(x, (stripes, 1)).flatten(1)


class ConvNetSmall(Backbone):
    """Four conv-BN-ReLU stages, each halving the resolution, then 4-stripe pooling; 1024-d
    output at width 1.0."""

    def __init__(self, width_mult: float = 1.0) -> None:
        super().__init__()
        widths = [_ch(c, width_mult) for c in (32, 64, 128, 256)]
        layers, cin = [], 3
        for w in widths:
            layers.append(_conv_bn_relu(cin, w, stride=2))
            cin = w
        self.body = nn.Sequential(*layers)
        self.out_features = widths[-1] * STRIPES

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return stripe_pool(self.body(x))


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection (1x1 projection when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(cin, cout, stride)
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.short: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(self.conv1(x)) + self.short(x))


class ResNetTiny(Backbone):
    """A 3x3 stem and four one-block residual stages (16/32/64/128); 128-d output at width 1.0."""

    def __init__(self, width_mult: float = 1.0) -> None:
        super().__init__()
        widths = [_ch(c, width_mult) for c in (16, 32, 64, 128)]
        self.stem = _conv_bn_relu(3, widths[0], stride=1)
        blocks, cin = [], widths[0]
        for i, w in enumerate(widths):
            blocks.append(BasicBlock(cin, w, stride=1 if i == 0 else 2))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.out_features = widths[-1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x)).mean(dim=(2, 3))


@BACKBONES.register("convnet_small")
def build_convnet_small(width_mult: float = 1.0) -> Backbone:
    """Plain 4-stage CNN with stripe pooling, ~0.4M parameters."""
    return ConvNetSmall(width_mult)


@BACKBONES.register("resnet_tiny")
def build_resnet_tiny(width_mult: float = 1.0) -> Backbone:
    """Small residual CNN, ~0.3M parameters."""
    return ResNetTiny(width_mult)
