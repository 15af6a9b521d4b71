"""The DualNorm backbone: MobileNetV2 with InstanceNorm where METHOD.md puts it.

Where each norm sits (``STAGES`` below is the single source of truth, and tests read it):

- stem 3x3 conv: affine InstanceNorm instead of BatchNorm;
- every inverted-residual block of the 16-, 24-, 32-, 64- and 96-channel stages: its own
  BatchNorms, then its output (after the residual add) through an affine InstanceNorm;
- the 160- and 320-channel stages and the final 1x1 conv to 1280: BatchNorm only;
- after global average pooling: a BatchNorm1d feature normalisation.

The layer names follow torchvision's ``MobileNetV2.features`` so its ImageNet weights load
(the stem's BatchNorm statistics and the classifier are dropped; the InstanceNorms and the
feature BatchNorm start fresh).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torchvision.models import MobileNetV2

from dgreid.models.backbone import BACKBONES, Backbone, fresh_running_stats
from dgreid.models.imagenet import DEEPSORT_MOBILENETV2
from dgreid.models.mobilenet import MOBILENET_V2_FILES


class Stage(NamedTuple):
    """One MobileNetV2 stage: expansion t, channels c (at width 1.0), blocks n, stride s."""

    t: int
    c: int
    n: int
    s: int
    instance_norm_after_block: bool


STAGES: tuple[Stage, ...] = (
    Stage(1, 16, 1, 1, True),
    Stage(6, 24, 2, 2, True),
    Stage(6, 32, 3, 2, True),
    Stage(6, 64, 4, 2, True),
    Stage(6, 96, 3, 1, True),
    Stage(6, 160, 3, 2, False),
    Stage(6, 320, 1, 1, False),
)


def instance_norm_block_indices() -> list[int]:
    """Indices into ``features`` of the blocks followed by an InstanceNorm (1..13 at any width)."""
    out, idx = [], 1  # features[0] is the stem
    for st in STAGES:
        for _ in range(st.n):
            if st.instance_norm_after_block:
                out.append(idx)
            idx += 1
    return out


class MobileNetV2DualNorm(Backbone):
    """MobileNetV2 (any width) with the DualNorm norm placement; output ``last_channel`` wide."""

    pretrained_files = MOBILENET_V2_FILES
    packaged_weights = (DEEPSORT_MOBILENETV2,)
    ignored_keys = ("classifier.", "features.0.1.running_", "features.0.1.num_batches_tracked")

    def __init__(self, width_mult: float = 1.0) -> None:
        super().__init__()
        setting = [[st.t, st.c, st.n, st.s] for st in STAGES]
        net = MobileNetV2(width_mult=width_mult, inverted_residual_setting=setting)
        self.features = net.features
        stem_conv_out = self.features[0][0].out_channels
        self.features[0][1] = nn.InstanceNorm2d(stem_conv_out, affine=True)  # stem: IN, not BN
        self.post_in = nn.ModuleDict(
            {
                str(i): nn.InstanceNorm2d(self.features[i].out_channels, affine=True)
                for i in instance_norm_block_indices()
            }
        )
        self.out_features = int(net.last_channel)
        self.feat_bn = nn.BatchNorm1d(self.out_features)  # feature normalisation after pooling

    has_feature_bn = True

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.finish(self.pooled(x))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.features):
            x = layer(x)
            key = str(i)
            if key in self.post_in:
                x = self.post_in[key](x)
        return x.mean(dim=(2, 3))

    def finish(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.feat_bn(pooled)

    def required_missing(self, missing: list[str]) -> list[str]:
        return [k for k in missing if not k.startswith(("post_in.", "feat_bn."))]

    plain_twin = "mobilenetv2"

    def plain_state(self) -> dict[str, torch.Tensor]:
        state = {k: v for k, v in self.state_dict().items() if k.startswith("features.")}
        stem = self.features[0][1]
        assert isinstance(stem, nn.InstanceNorm2d)
        return state | fresh_running_stats("features.0.1", stem.num_features)


@BACKBONES.register("mobilenetv2_dualnorm")
def build_mobilenetv2_dualnorm(width_mult: float = 1.0) -> Backbone:
    """The DualNorm network (1280-d output at width <= 1.0)."""
    return MobileNetV2DualNorm(width_mult)
