"""Stage 1 of the episodic method: one domain-specific extractor F_i per source domain."""

from __future__ import annotations

import torch
from torch import nn

from dgreid.config.schema import Config
from dgreid.errors import TrainingError
from dgreid.losses import batch_hard_triplet, label_smoothed_ce
from dgreid.methods.base import BuildContext, Method, network_arguments
from dgreid.methods.registry import register_method
from dgreid.models import Backbone, build_backbone
from dgreid.structures import Batch


@register_method("extractor")
class ExtractorMethod(Method):
    """F_i trained on one domain with a batch-hard triplet loss plus an id CE head.

    ``num_classes`` is the number of identities of this domain and ``pid_offset`` the first of
    its global ids, so the head covers this domain only. After training, ``backbone``
    is the extractor handed (frozen) to :class:`~dgreid.methods.episodic.EpisodicMethod`;
    ``embed`` is its feature (width ``backbone.out_features``).
    """

    sampler = "pk"

    def __init__(
        self,
        *,
        num_classes: int,
        backbone: str = "resnet50",
        pretrained: str = "none",
        width_mult: float = 1.0,
        pid_offset: int = 0,
        margin: float = 0.3,
        label_smooth: float = 0.1,
    ) -> None:
        super().__init__()
        self.backbone: Backbone = build_backbone(backbone, pretrained, width_mult=width_mult)
        width = self.backbone.out_features
        # BNNeck (common practice): the triplet loss sees the feature, the id head its
        # batch-normalised copy, so the two losses do not fight over the feature's scale.
        self.neck = nn.BatchNorm1d(width)
        self.classifier = nn.Linear(width, num_classes)
        self.num_classes = num_classes
        self.pid_offset = pid_offset
        self.margin = margin
        self.label_smooth = label_smooth

    @classmethod
    def from_config(cls, cfg: Config, ctx: BuildContext) -> Method:
        """An F_i of ``model.extractor`` over ``ctx.num_classes`` ids from ``ctx.pid_offset``."""
        return cls(
            num_classes=ctx.num_classes,
            pid_offset=ctx.pid_offset,
            margin=cfg.method.margin,
            **network_arguments(cfg, cfg.model.extractor),
        )

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        feats = self.backbone(batch.images)
        tri = batch_hard_triplet(feats, batch.pids, self.margin)
        labels = batch.pids - self.pid_offset
        if bool((labels < 0).any()) or bool((labels >= self.num_classes).any()):
            raise TrainingError(
                f"extractor: pids {batch.pids.min().item()}..{batch.pids.max().item()} fall "
                f"outside this domain's range {self.pid_offset}.."
                f"{self.pid_offset + self.num_classes - 1} (is the batch from another domain?)"
            )
        cls = label_smoothed_ce(self.classifier(self.neck(feats)), labels, self.label_smooth)
        return {"tri": tri.detach(), "cls": cls.detach(), "loss": tri + cls}

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images)


class NeckFeature(nn.Module):
    """A trained extractor's BNNeck feature: ``neck(backbone(x))``, zero-mean and unit-variance
    per channel over the source domain (the raw pooled feature of a ReLU network is mostly
    exact zeros). What ``method.extractor_feature=neck`` hands to E."""

    def __init__(self, backbone: Backbone, neck: nn.BatchNorm1d) -> None:
        super().__init__()
        self.backbone, self.neck = backbone, neck
        self.out_features = backbone.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(x))


#: What a stage-1 extractor hands to E (``method.extractor_feature``).
EXTRACTOR_FEATURES = ("raw", "neck")


def extractor_feature(method: ExtractorMethod, which: str) -> nn.Module:
    """The frozen module E reads: the backbone (``raw``) or :class:`NeckFeature` (``neck``)."""
    if which not in EXTRACTOR_FEATURES:
        raise TrainingError(
            f"method.extractor_feature={which!r}; expected one of {', '.join(EXTRACTOR_FEATURES)}"
        )
    if which == "raw":
        return method.backbone
    return NeckFeature(method.backbone, method.neck)
