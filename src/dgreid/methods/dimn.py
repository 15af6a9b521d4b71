"""DIMN (Song et al. 2019, "Generalizable person re-identification by domain-invariant mapping
network") as this project implements it; the design choices are in docs/methods.md.

A weight generator G maps an image feature to the weights of a classifier for that image's
identity. Training (one PK batch over all sources): every image generates a weight; the weight of
identity y is the mean generated weight of y's OTHER images in the batch (leave-one-out, so a
probe never sees its own image as "gallery"); ids not in the batch use the memory bank. The loss
is the label-smoothed CE of the scaled cosine scores of each probe against all identity weights,
plus a global id loss of every probe against the bank and a regression term pulling the
generated weights towards the (detached) bank rows of their ids.
Test: score(q, g) = cos(f(q), G(f(g))), distance = 1 - score.

The memory bank is a cosine classifier trained by gradient, so the out-of-batch negatives move
with the features (a bank of blended generated weights goes stale between two visits of an id
and was measured at chance on real images; docs/methods.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dgreid.config.schema import Config
from dgreid.losses import label_smoothed_ce
from dgreid.methods.base import BuildContext, Method, network_arguments
from dgreid.methods.registry import register_method
from dgreid.models import Backbone, build_backbone
from dgreid.structures import Batch


@register_method("dimn")
class DIMNMethod(Method):
    """Backbone f, weight generator G (Linear-BN-ReLU-Linear), memory bank of id weights."""

    sampler = "pk"

    def __init__(
        self,
        *,
        num_classes: int,
        backbone: str = "mobilenetv2_dualnorm",
        pretrained: str = "none",
        width_mult: float = 1.0,
        scale: float = 16.0,
        lambda_reg: float = 1.0,
        label_smooth: float = 0.1,
    ) -> None:
        super().__init__()
        self.backbone: Backbone = build_backbone(backbone, pretrained, width_mult=width_mult)
        d = self.backbone.out_features
        self.generator = nn.Sequential(
            nn.Linear(d, d), nn.BatchNorm1d(d), nn.ReLU(inplace=True), nn.Linear(d, d)
        )
        # rows of unit norm on average, as cosine weights
        self.memory = nn.Parameter(torch.randn(num_classes, d) / d**0.5)
        self.seen: torch.Tensor  # the ids met in training so far
        self.register_buffer("seen", torch.zeros(num_classes, dtype=torch.bool))
        self.scale = scale
        self.lambda_reg = lambda_reg
        self.label_smooth = label_smooth

    @classmethod
    def from_config(cls, cfg: Config, ctx: BuildContext) -> Method:
        return cls(num_classes=ctx.num_classes, **network_arguments(cfg))

    def generate(self, feats: torch.Tensor) -> torch.Tensor:
        """Unit-norm classifier weights generated from (gallery) features."""
        return F.normalize(self.generator(feats), dim=1)

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        feats = self.backbone(batch.images)
        probe = F.normalize(feats, dim=1)
        w = self.generate(feats)
        uniq, inv = batch.pids.unique(return_inverse=True)
        counts = torch.bincount(inv, minlength=len(uniq)).to(w.dtype)
        sums = torch.zeros(len(uniq), w.shape[1], dtype=w.dtype, device=w.device)
        sums = sums.index_add(0, inv, w)
        proto = F.normalize(sums / counts.unsqueeze(1), dim=1)  # (U, d) generated id weights
        others = (counts[inv] - 1).unsqueeze(1)
        loo = F.normalize((sums[inv] - w) / others.clamp(min=1), dim=1)
        own = torch.where(others > 0, loo, proto[inv])  # alone in the batch: its own weight
        scores_batch = (probe @ proto.t()).scatter(1, inv.unsqueeze(1), (probe * own).sum(1, True))
        bank = probe @ F.normalize(self.memory, dim=1).t()
        scores = bank.index_copy(1, uniq, scores_batch)
        cls = label_smoothed_ce(self.scale * scores, batch.pids, self.label_smooth)
        glob = label_smoothed_ce(self.scale * bank, batch.pids, self.label_smooth)
        rows = F.normalize(self.memory[uniq], dim=1).detach()
        reg = ((proto - rows) ** 2).sum(1).mean()
        self.seen[uniq] = True
        loss = cls + glob + self.lambda_reg * reg
        return {"loss": loss, "cls": cls.detach(), "id": glob.detach(), "reg": reg.detach()}

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images)

    @torch.no_grad()
    def pairwise_distance(
        self, query_feats: torch.Tensor, gallery_feats: torch.Tensor
    ) -> torch.Tensor:
        """``1 - cos(f(q), G(f(g)))``: the generated gallery classifiers applied to the probes."""
        dev = self.memory.device
        was_training = self.generator.training
        self.generator.eval()  # test-time generation uses the running statistics
        weights = self.generate(gallery_feats.to(dev))
        self.generator.train(was_training)
        return 1.0 - F.normalize(query_feats.to(dev), dim=1) @ weights.t()
