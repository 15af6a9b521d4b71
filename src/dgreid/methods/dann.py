"""DANN (Ganin & Lempitsky 2015) for DG re-ID: the baseline plus an adversarial domain head."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from dgreid.config.checks import at_least
from dgreid.config.schema import Config
from dgreid.errors import TrainingError
from dgreid.methods.base import BuildContext, Method, own_settings
from dgreid.methods.baseline import BaselineMethod, BaselineSettings, single_network_arguments
from dgreid.methods.registry import register_method
from dgreid.models import DomainClassifier
from dgreid.structures import Batch


@dataclass
class DANNSettings(BaselineSettings):
    """The single-network recipe and the weight of the domain-adversarial loss."""

    lambda_domain: float = 0.1

    rules: ClassVar[dict[str, Any]] = {**BaselineSettings.rules, "lambda_domain": at_least(0)}


def reversal_weight(step: int, total_steps: int) -> float:
    """The classic DANN schedule ``2 / (1 + exp(-10 p)) - 1`` with ``p = min(step/total, 1)``:
    0 at the start (the domain head learns before it pushes back), -> 1 by the end."""
    p = min(max(step, 0) / total_steps, 1.0)
    return 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0


@register_method("dann", DANNSettings)
class DANNMethod(BaselineMethod):
    """Loss = id CE + ``lambda_domain`` * domain CE, the domain head behind gradient reversal
    whose weight follows :func:`reversal_weight`. ``embed`` is the backbone feature."""

    def __init__(
        self,
        *,
        num_classes: int,
        num_domains: int,
        total_steps: int,
        backbone: str = "resnet50",
        pretrained: str = "none",
        width_mult: float = 1.0,
        label_smooth: float = 0.1,
        lambda_domain: float = 0.1,
        bnneck: bool = False,
        feature_tri: float = 0.0,
        margin: float = 0.3,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            backbone=backbone,
            pretrained=pretrained,
            width_mult=width_mult,
            label_smooth=label_smooth,
            bnneck=bnneck,
            feature_tri=feature_tri,
            margin=margin,
        )
        if total_steps <= 0:
            raise TrainingError(f"dann needs total_steps > 0 for its schedule, got {total_steps}")
        if num_domains < 2:
            raise TrainingError(f"dann needs >= 2 source domains, got {num_domains}")
        self.domain_head = DomainClassifier(self.backbone.out_features, num_domains)
        self.total_steps = total_steps
        self.lambda_domain = lambda_domain

    @classmethod
    def from_config(cls, cfg: Config, ctx: BuildContext) -> Method:
        """The run length for the schedule comes from ``ctx.total_steps``, else from
        ``train.max_iters`` or ``train.epochs * train.iters_per_epoch``."""
        total = (
            ctx.total_steps or cfg.train.max_iters or cfg.train.epochs * cfg.train.iters_per_epoch
        )
        if total <= 0:
            raise TrainingError(
                "dann: the reversal-weight schedule needs the run length; pass total_steps or "
                "set train.iters_per_epoch (or train.max_iters)"
            )
        return cls(
            num_classes=ctx.num_classes,
            num_domains=ctx.num_domains,
            total_steps=total,
            lambda_domain=own_settings(cfg, DANNSettings).lambda_domain,
            **single_network_arguments(cfg),
        )

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        pooled = self.backbone.pooled(batch.images)
        feats = self.backbone.finish(pooled)
        out = self.id_losses(pooled, feats, batch)
        alpha = reversal_weight(step, self.total_steps)
        dom = torch.nn.functional.cross_entropy(self.domain_head(feats, alpha), batch.domains)
        out["loss"] = out["loss"] + self.lambda_domain * dom
        return {**out, "domain": dom.detach(), "alpha": torch.tensor(alpha)}
