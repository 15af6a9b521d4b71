"""The baseline: one backbone trained with label-smoothed id cross-entropy over all sources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from dgreid.config.checks import at_least, free
from dgreid.config.schema import Config, MethodSettings
from dgreid.losses import batch_hard_triplet, label_smoothed_ce
from dgreid.methods.base import BuildContext, Method, network_arguments, own_settings
from dgreid.methods.registry import register_method
from dgreid.models import Backbone, build_backbone
from dgreid.structures import Batch


@dataclass
class BaselineSettings(MethodSettings):
    """The single-network recipe's keys (baseline, dualnorm, dann)."""

    #: the id classifier sees a BNNeck copy of the feature (also the test feature); false =
    #: the paper's baseline (classifier on the feature)
    bnneck: bool = False
    #: weight of a batch-hard triplet loss (method.margin) on the pooled feature
    feature_tri: float = 0.0

    rules: ClassVar[dict[str, Any]] = {
        "bnneck": free("true or false"),
        "feature_tri": at_least(0),
    }


@register_method("baseline", BaselineSettings)
class BaselineMethod(Method):
    """backbone -> feature -> linear classifier; ``embed`` is the backbone feature.

    Two recipe switches, both off by default (the paper's baseline):

    - ``bnneck``: the classifier sees a batch-normalised copy of the feature (a BNNeck, no bias
      in the classifier), which is also the test feature; a network that ends in its own
      feature BatchNorm (DualNorm's) uses that one as the neck;
    - ``feature_tri``: the weight of a batch-hard triplet loss (``margin``) on the pooled
      feature before any BatchNorm (``backbone.pooled``), next to the id loss.
    """

    sampler = "pk"

    def __init__(
        self,
        *,
        num_classes: int,
        backbone: str = "resnet50",
        pretrained: str = "none",
        width_mult: float = 1.0,
        label_smooth: float = 0.1,
        bnneck: bool = False,
        feature_tri: float = 0.0,
        margin: float = 0.3,
    ) -> None:
        super().__init__()
        self.backbone: Backbone = build_backbone(backbone, pretrained, width_mult=width_mult)
        self.neck = self.backbone.new_bnneck() if bnneck else None
        self.classifier = nn.Linear(self.backbone.out_features, num_classes, bias=not bnneck)
        self.label_smooth = label_smooth
        self.feature_tri = feature_tri
        self.margin = margin

    @classmethod
    def from_config(cls, cfg: Config, ctx: BuildContext) -> Method:
        return cls(num_classes=ctx.num_classes, **single_network_arguments(cfg))

    def head(self, feats: torch.Tensor) -> torch.Tensor:
        """What the classifier and the test see: the feature, or its BNNeck copy."""
        return feats if self.neck is None else self.neck(feats)

    def id_losses(
        self, pooled: torch.Tensor, feats: torch.Tensor, batch: Batch
    ) -> dict[str, torch.Tensor]:
        """``cls`` (and ``tri`` when ``feature_tri`` > 0) of the backbone's pooled feature
        ``pooled`` (:meth:`Backbone.pooled`) and its ``feats = backbone.finish(pooled)``
        (computed once by the caller: a DualNorm network's BatchNorm updates its running
        statistics on every call), and ``loss``, their weighted sum."""
        logits = self.classifier(self.head(feats))
        cls = label_smoothed_ce(logits, batch.pids, self.label_smooth)
        out = {"loss": cls, "cls": cls.detach()}
        if self.feature_tri > 0:
            tri = batch_hard_triplet(pooled, batch.pids, self.margin)
            out["loss"] = cls + self.feature_tri * tri
            out["tri"] = tri.detach()
        return out

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        pooled = self.backbone.pooled(batch.images)
        return self.id_losses(pooled, self.backbone.finish(pooled), batch)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))


def single_network_arguments(cfg: Config) -> dict[str, Any]:
    """The constructor arguments the single-network methods share: the backbone and the
    recipe of :class:`BaselineSettings`."""
    own = own_settings(cfg, BaselineSettings)
    return dict(
        **network_arguments(cfg),
        bnneck=own.bnneck,
        feature_tri=own.feature_tri,
        margin=cfg.method.margin,
    )
