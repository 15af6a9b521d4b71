"""``episodic_plus``: the episodic method with what goes beyond the paper.

Always on: the batch-hard triplet loss also on E(F(x)) (``tri_global``, weight ``lambda_tri``),
so the episodic metric signal reaches F (in the paper F learns from L_cls alone), and E(F(x))
agreeing with E(F_j(x)), a frozen domain-biased view (``consis_global``, weight
``lambda_consis``). Switches:

- ``test_feature``: what is ranked at test time: ``backbone``, F's pooled feature before any
  BatchNorm (where ``f_tri`` acts; it ranked best or level in every measured run,
  projects/episodic_study/README.md), ``concat``, F's neck feature next to E(F(x)), each
  L2-normalised, or ``encoder``, E(F(x)) as in the paper;
- ``f_tri``: the weight of a batch-hard triplet loss on F's pooled feature (before its feature
  BatchNorm and the projection), the metric signal that made the single-network methods
  strong on real images (docs/real-mini-dg.md);
- ``f_id``: the weight of an id loss on F's own feature through a BNNeck (a BatchNorm copy of
  F(x), or a DualNorm network's own feature BatchNorm, then a linear classifier without bias
  over all source ids), the Baseline's recipe inside the episode; the test feature's F part is
  then that neck feature in ``test_feature=concat``;
- ``mixed_episodes``: batches are PK batches over the union of sources (as the Baseline's), and
  every image n of domain d_n gets its own pair j_n != k_n, both != d_n: the episode's losses
  are the same, taken over images whose biased views come from different extractors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from dgreid.config.checks import at_least, free, one_of
from dgreid.config.schema import Config
from dgreid.errors import TrainingError
from dgreid.losses import batch_hard_triplet, consistency_loss, label_smoothed_ce
from dgreid.methods.base import BuildContext, Method, own_settings
from dgreid.methods.episodic import (
    Episode,
    EpisodicMethod,
    EpisodicSettings,
    episodic_arguments,
)
from dgreid.methods.registry import register_method
from dgreid.structures import Batch

#: ``method.test_feature``: what :meth:`EpisodicPlusMethod.embed` returns
TEST_FEATURES = ("backbone", "concat", "encoder")


@dataclass
class EpisodicPlusSettings(EpisodicSettings):
    """The episodic family's keys and the switches of the module docstring."""

    #: the test feature: "backbone" (F's pooled feature, before any BatchNorm), "concat" ([F's
    #: neck feature, E(F(x))], each L2-normalised) or "encoder" (E(F(x)), the paper)
    test_feature: str = "backbone"
    f_tri: float = 0.0  # weight of a triplet loss on F's pooled feature
    f_id: float = 0.0  # weight of an id loss on F's feature through a BNNeck
    mixed_episodes: bool = False  # PK batches over all sources, j, k per image

    rules: ClassVar[dict[str, Any]] = {
        **EpisodicSettings.rules,
        "test_feature": one_of(lambda: TEST_FEATURES),
        "f_tri": at_least(0),
        "f_id": at_least(0),
        "mixed_episodes": free("true or false"),
    }


@register_method("episodic_plus", EpisodicPlusSettings)
class EpisodicPlusMethod(EpisodicMethod):
    """:class:`EpisodicMethod` plus the switches of the module docstring."""

    def __init__(
        self,
        *,
        test_feature: str = "backbone",
        f_tri: float = 0.0,
        f_id: float = 0.0,
        mixed_episodes: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mixed_episodes = mixed_episodes
        if mixed_episodes:
            self.sampler = "pk"
        self.f_tri, self.f_id = f_tri, f_id
        self.f_neck: nn.Module | None = None
        self.f_classifier: nn.Linear | None = None
        if f_id > 0:
            neck = self.backbone.new_bnneck()
            self.f_neck = nn.Identity() if neck is None else neck
            width = self.backbone.out_features
            self.f_classifier = nn.Linear(width, self.classifier.out_features, bias=False)
        if test_feature not in TEST_FEATURES:
            raise TrainingError(
                f"method.test_feature={test_feature!r}; expected one of {', '.join(TEST_FEATURES)}"
            )
        self.test_feature = test_feature

    @classmethod
    def from_config(cls, cfg: Config, ctx: BuildContext) -> Method:
        own = own_settings(cfg, EpisodicPlusSettings)
        return cls(
            **episodic_arguments(cfg, ctx),
            test_feature=own.test_feature,
            f_tri=own.f_tri,
            f_id=own.f_id,
            mixed_episodes=own.mixed_episodes,
        )

    def pick_pairs(self, domains: torch.Tensor, step: int) -> tuple[list[int], list[int]]:
        """Per image n of domain d_n, two distinct domains j_n, k_n != d_n: a pure function of
        ``(seed, step)`` and the batch's domains, so a resumed run draws the same ones."""
        count = len(self.extractors)
        rng = np.random.default_rng([self.seed, step, count])
        js, ks = [], []
        for d in domains.tolist():
            if not 0 <= d < count:
                raise TrainingError(f"image of domain {d}; the sources are 0..{count - 1}")
            j, k = rng.choice([e for e in range(count) if e != d], size=2, replace=False)
            js.append(int(j))
            ks.append(int(k))
        return js, ks

    def episode(self, batch: Batch, step: int) -> Episode:
        if not self.mixed_episodes:
            return super().episode(batch, step)
        js, ks = self.pick_pairs(batch.domains, step)
        needed = sorted(set(js) | set(ks))
        at = {d: t for t, d in enumerate(needed)}
        with torch.no_grad():
            views = torch.stack([self.extractors[d](batch.images) for d in needed])
        rows = torch.arange(len(js))
        biased_j = views[[at[j] for j in js], rows]
        biased_k = views[[at[k] for k in ks], rows]
        return self.assemble(batch, (-1, -1, -1), biased_j, biased_k)

    def losses(self, ep: Episode, batch: Batch) -> dict[str, tuple[float, torch.Tensor]]:
        terms = super().losses(ep, batch)
        tri_g = batch_hard_triplet(self.metric_space(ep.v), batch.pids, self.margin)
        terms["tri_global"] = (self.lambda_tri, tri_g)
        consis_g = consistency_loss(self.metric_space(ep.v), self.metric_space(ep.v_j))
        terms["consis_global"] = (self.lambda_consis, consis_g)
        terms.update(self.own_terms(ep.pooled, ep.feat, batch.pids))
        return terms

    def own_terms(
        self, pooled: torch.Tensor, feat: torch.Tensor, pids: torch.Tensor
    ) -> dict[str, tuple[float, torch.Tensor]]:
        """F's own losses: ``f_tri`` on its pooled feature, ``f_id`` through its BNNeck."""
        terms: dict[str, tuple[float, torch.Tensor]] = {}
        neck = self.f_neck(feat) if self.f_neck is not None else None
        if self.f_tri > 0:
            terms["f_tri"] = (self.f_tri, batch_hard_triplet(pooled, pids, self.margin))
        if neck is not None and self.f_classifier is not None:
            logits = self.f_classifier(neck)
            terms["f_id"] = (self.f_id, label_smoothed_ce(logits, pids, self.label_smooth))
        return terms

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        if self.test_feature == "encoder":
            return super().embed(images)
        if self.test_feature == "backbone":
            return self.backbone.pooled(images)
        own = self.backbone(images)
        v = self.encoder(self.proj(own))
        if self.f_neck is not None:
            own = self.f_neck(own)
        norm = nn.functional.normalize
        return torch.cat([norm(own, dim=1), norm(v, dim=1)], dim=1)
