"""The baseline: one backbone trained with label-smoothed id cross-entropy over all sources."""

from __future__ import annotations

import torch
from torch import nn

from dgreid.losses import label_smoothed_ce
from dgreid.methods.base import Method
from dgreid.methods.registry import METHODS
from dgreid.models import Backbone, build_backbone
from dgreid.structures import Batch


@METHODS.register("baseline")
class BaselineMethod(Method):
    """backbone -> feature -> linear classifier (no BNNeck); ``embed`` is the backbone feature."""

    sampler = "pk"

    def __init__(
        self,
        *,
        num_classes: int,
        backbone: str = "resnet50",
        pretrained: str = "none",
        width_mult: float = 1.0,
        label_smooth: float = 0.1,
    ) -> None:
        super().__init__()
        self.backbone: Backbone = build_backbone(backbone, pretrained, width_mult=width_mult)
        self.classifier = nn.Linear(self.backbone.out_features, num_classes)
        self.label_smooth = label_smooth

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        feats = self.backbone(batch.images)
        loss = label_smoothed_ce(self.classifier(feats), batch.pids, self.label_smooth)
        return {"loss": loss, "cls": loss.detach()}

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images)
