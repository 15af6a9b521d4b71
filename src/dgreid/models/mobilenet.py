"""torchvision's MobileNetV2 as a backbone: ``features``, then global average pooling.

The CPU analogue of the paper's ResNet-50 (Baseline, DANN, the stage-1 extractors F_i) next to
the DualNorm MobileNetV2 (F and the DualNorm method): both load the same ImageNet weights, from
torchvision's file in the torch hub cache or from the copy an installed package ships.
"""

from __future__ import annotations

import torch
from torchvision.models import MobileNetV2

from dgreid.models.backbone import BACKBONES, Backbone
from dgreid.models.imagenet import DEEPSORT_MOBILENETV2

#: torchvision's ImageNet MobileNetV2 files (v1 and v2 recipes), looked for in the hub cache.
MOBILENET_V2_FILES = ("mobilenet_v2-b0353104.pth", "mobilenet_v2-7ebf99e0.pth")


class MobileNetV2Plain(Backbone):
    """MobileNetV2 (any width) with BatchNorm everywhere; output ``last_channel`` (1280) wide."""

    pretrained_files = MOBILENET_V2_FILES
    packaged_weights = (DEEPSORT_MOBILENETV2,)
    ignored_keys = ("classifier.",)

    def __init__(self, width_mult: float = 1.0) -> None:
        super().__init__()
        net = MobileNetV2(width_mult=width_mult)
        self.features = net.features
        self.out_features = int(net.last_channel)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))


@BACKBONES.register("mobilenetv2")
def build_mobilenetv2(width_mult: float = 1.0) -> Backbone:
    """Plain MobileNetV2 (1280-d output at width <= 1.0)."""
    return MobileNetV2Plain(width_mult)
