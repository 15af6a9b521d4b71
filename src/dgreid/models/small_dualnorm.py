"""A CPU-sized network with the DualNorm norm placement, for the synthetic benchmark.

Same four stride-2 conv stages as ``convnet_small`` (so it costs the same per image), with the
placement METHOD.md gives the DualNorm MobileNetV2, scaled down:

- stem (stage 1) conv: affine InstanceNorm instead of BatchNorm;
- stage 2 (the other early stage): BatchNorm, then its output through an affine InstanceNorm;
- stages 3 and 4: BatchNorm only;
- after pooling (4 horizontal stripes, as ``convnet_small``): a BatchNorm1d feature
  normalisation.

``NORMS`` below is the single statement of where each norm sits; the tests read it.
"""

from __future__ import annotations

import torch
from torch import nn

from dgreid.models.backbone import BACKBONES, Backbone, fresh_running_stats
from dgreid.models.small import STRIPES, stripe_pool

#: Per stage: (channels at width 1.0, norm inside the stage, InstanceNorm on the stage output).
NORMS: tuple[tuple[int, str, bool], ...] = (
    (32, "instance", False),
    (64, "batch", True),
    (128, "batch", False),
    (256, "batch", False),
)


def _stage(cin: int, cout: int, norm: str) -> nn.Sequential:
    layer: nn.Module = (
        nn.InstanceNorm2d(cout, affine=True) if norm == "instance" else nn.BatchNorm2d(cout)
    )
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1, bias=False), layer, nn.ReLU(inplace=True))


class ConvNetDualNorm(Backbone):
    """Four conv stages with IN in the early layers and BN in the later ones; 1024-d output."""

    def __init__(self, width_mult: float = 1.0) -> None:
        super().__init__()
        stages, post, cin = [], [], 3
        for c, norm, in_after in NORMS:
            cout = max(8, int(round(c * width_mult)))
            stages.append(_stage(cin, cout, norm))
            post.append(nn.InstanceNorm2d(cout, affine=True) if in_after else nn.Identity())
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.post = nn.ModuleList(post)
        self.out_features = cin * STRIPES
        self.feat_bn = nn.BatchNorm1d(self.out_features)

    has_feature_bn = True

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.finish(self.pooled(x))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        for stage, post in zip(self.stages, self.post):
            x = post(stage(x))
        return stripe_pool(x)

    def finish(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.feat_bn(pooled)

    plain_twin = "convnet_small"

    def plain_state(self) -> dict[str, torch.Tensor]:
        state = {
            "body." + k[len("stages.") :]: v
            for k, v in self.state_dict().items()
            if k.startswith("stages.")
        }
        for i, stage in enumerate(self.stages):
            assert isinstance(stage, nn.Sequential)
            norm = stage[1]
            if isinstance(norm, nn.InstanceNorm2d):
                state |= fresh_running_stats(f"body.{i}.1", norm.num_features)
        return state


@BACKBONES.register("convnet_dualnorm")
def build_convnet_dualnorm(width_mult: float = 1.0) -> Backbone:
    """``convnet_small`` with DualNorm's IN/BN placement, ~0.4M parameters."""
    return ConvNetDualNorm(width_mult)
