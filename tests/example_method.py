"""The worked example of docs/methods.md, "Adding a method": a Baseline whose id classifier is
a cosine classifier (NormFace), with one key of its own. tests/test_adding_a_method.py trains it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from dgreid.config.checks import above
from dgreid.config.schema import Config, MethodSettings
from dgreid.losses import label_smoothed_ce
from dgreid.methods.base import BuildContext, Method, network_arguments, own_settings
from dgreid.methods.registry import register_method
from dgreid.models import build_backbone
from dgreid.structures import Batch


@dataclass
class CosineSettings(MethodSettings):
    """``method.scale``: the logits are ``scale * cos(feature, class weight)``."""

    scale: float = 16.0

    rules: ClassVar[dict[str, Any]] = {"scale": above(0)}


@register_method("cosine", CosineSettings)
class CosineMethod(Method):
    """backbone -> feature -> cosine classifier over all source ids; ``embed`` is the feature."""

    sampler = "pk"

    def __init__(
        self,
        *,
        num_classes: int,
        backbone: str = "resnet50",
        pretrained: str = "none",
        width_mult: float = 1.0,
        label_smooth: float = 0.1,
        scale: float = 16.0,
    ) -> None:
        super().__init__()
        self.backbone = build_backbone(backbone, pretrained, width_mult=width_mult)
        self.weight = nn.Parameter(torch.randn(num_classes, self.backbone.out_features) * 0.01)
        self.label_smooth, self.scale = label_smooth, scale

    @classmethod
    def from_config(cls, cfg: Config, ctx: BuildContext) -> Method:
        own = own_settings(cfg, CosineSettings)
        return cls(num_classes=ctx.num_classes, scale=own.scale, **network_arguments(cfg))

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        feats = F.normalize(self.backbone(batch.images), dim=1)
        logits = self.scale * feats @ F.normalize(self.weight, dim=1).t()
        cls = label_smoothed_ce(logits, batch.pids, self.label_smooth)
        return {"loss": cls, "cls": cls.detach()}

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images)
