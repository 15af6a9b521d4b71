"""``episodic_plus``: the episodic method with what goes beyond the paper, each part a switch.

- ``tri_global``: the batch-hard triplet loss also on E(F(x)), so the episodic metric signal
  reaches F (in the paper F learns from L_cls alone);
- ``consis_global``: E(F(x)) must agree with E(F_j(x)) (a frozen domain-biased view), again a
  signal for F rather than for E alone;
- ``test_feature``: what is ranked at test time: ``backbone``, F's pooled feature before any
  BatchNorm (where ``f_tri`` acts; it ranked best or level in every measured run,
  projects/episodic_study/README.md), ``concat``, F's neck feature next to E(F(x)), each
  L2-normalised, or ``encoder``, E(F(x)) as in the paper;
- ``mixstyle``: MixStyle (Zhou et al., ICLR 2021) after F's early layers with this probability,
  so F sees feature statistics between those of the batch's images;
- ``f_tri``: the weight of a batch-hard triplet loss on F's pooled feature (before its feature
  BatchNorm and the projection), the metric signal that made the single-network methods
  strong on real images (docs/real-mini-dg.md);
- ``f_id``: the weight of an id loss on F's own feature through a BNNeck (a BatchNorm copy of
  F(x), or a DualNorm network's own feature BatchNorm, then a linear classifier without bias
  over all source ids), the Baseline's recipe inside the episode; the test feature's F part is
  then that neck feature in ``test_feature=concat``;
- ``f_from_e``: the scale of the gradient that the losses on E(F(x)) (L_cls through E and C,
  ``tri_global``, ``consis_global``) send back into F: 1 as in the paper, 0 = F learns from its
  own losses (``f_id``, ``f_tri``) alone while E and C still learn on F(x); the forward pass is
  the same either way;
- ``meta_lr``: meta-train / meta-test episodes on F's own losses (MLDG, Li et al., AAAI 2018,
  first-order): in each PK batch the images of one source domain, drawn from ``(seed, step)``,
  are held out as meta-test. F's own losses (``f_id``, ``f_tri``) on the other images give a
  gradient g; the same losses on the held-out images are taken with F's weights at
  ``theta - meta_lr * g`` (g a constant; the whole batch passes through F, so BatchNorm sees
  the batch's statistics). The two parts, each weighed by its share of the batch, replace F's
  own losses in the step: F is rewarded for updates that also help a source domain they were
  not computed on. 0 = off; needs ``mixed_episodes`` and ``f_id`` or ``f_tri``;
- ``mixed_episodes``: batches are PK batches over the union of sources (as the Baseline's), and
  every image n of domain d_n gets its own pair j_n != k_n, both != d_n: the episode's losses
  are the same, taken over images whose biased views come from different extractors.

Every switch off is exactly :class:`~dgreid.methods.episodic.EpisodicMethod`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from dgreid.errors import TrainingError
from dgreid.losses import batch_hard_triplet, consistency_loss, label_smoothed_ce
from dgreid.methods.episodic import Episode, EpisodicMethod
from dgreid.methods.registry import METHODS
from dgreid.models import Backbone
from dgreid.structures import Batch

#: ``method.test_feature``: what :meth:`EpisodicPlusMethod.embed` returns
TEST_FEATURES = ("backbone", "concat", "encoder")


class MixStyle(nn.Module):
    """Mix each image's channel means and standard deviations with another image's.

    With probability ``p`` per forward in training mode: ``x' = sigma_mix * (x - mu) / sigma +
    mu_mix`` where ``mu_mix = lam * mu + (1 - lam) * mu[perm]`` (same for sigma), ``lam ~
    Beta(alpha, alpha)`` per image and ``perm`` a random permutation of the batch; statistics
    are per image and channel over the spatial positions, and carry no gradient. Randomness comes
    from torch's generator, which the trainer seeds per epoch and restores on resume.
    """

    def __init__(self, p: float = 0.5, alpha: float = 0.1, eps: float = 1e-6) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise TrainingError(f"mixstyle probability must be in [0, 1], got {p}")
        self.p, self.alpha, self.eps = p, alpha, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.shape[0] < 2:
            return x
        if float(torch.rand(())) > self.p:
            return x
        b = x.shape[0]
        mu = x.mean(dim=(2, 3), keepdim=True).detach()
        sig = (x.var(dim=(2, 3), keepdim=True) + self.eps).sqrt().detach()
        lam = torch.distributions.Beta(self.alpha, self.alpha).sample((b, 1, 1, 1)).to(x)
        perm = torch.randperm(b, device=x.device)
        mu_mix = lam * mu + (1 - lam) * mu[perm]
        sig_mix = lam * sig + (1 - lam) * sig[perm]
        return (x - mu) / sig * sig_mix + mu_mix


class _PooledAndFeature(nn.Module):
    """``(backbone.pooled(x), backbone.finish(pooled))`` as one forward, so that
    ``torch.func.functional_call`` can run F with other weights."""

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.backbone.pooled(images)
        return pooled, self.backbone.finish(pooled)


@METHODS.register("episodic_plus")
class EpisodicPlusMethod(EpisodicMethod):
    """:class:`EpisodicMethod` plus the switches of the module docstring."""

    def __init__(
        self,
        *,
        tri_global: bool = True,
        consis_global: bool = True,
        test_feature: str = "backbone",
        mixstyle: float = 0.0,
        f_tri: float = 0.0,
        f_id: float = 0.0,
        mixed_episodes: bool = False,
        f_from_e: float = 1.0,
        meta_lr: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if meta_lr < 0 or (meta_lr > 0 and not (mixed_episodes and (f_id > 0 or f_tri > 0))):
            raise TrainingError(
                f"method.meta_lr={meta_lr}: meta episodes need meta_lr >= 0, and when on, "
                "method.mixed_episodes=true (batches over several sources) and method.f_id or "
                "method.f_tri > 0 (F's own losses, which they split)"
            )
        self.meta_lr = meta_lr
        if not 0.0 <= f_from_e <= 1.0:
            raise TrainingError(f"method.f_from_e must be in [0, 1], got {f_from_e}")
        self.f_from_e = f_from_e
        self.mixed_episodes = mixed_episodes
        if mixed_episodes:
            self.sampler = "pk"
        self.tri_global, self.consis_global = tri_global, consis_global
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
        self.mixstyle = MixStyle(mixstyle)
        self._hooks: list[torch.utils.hooks.RemovableHandle] = []
        if mixstyle > 0.0:
            layers = getattr(self.backbone, "style_layers", ())
            if not layers:
                raise TrainingError(
                    f"episodic_plus: method.mixstyle needs a backbone that names its early "
                    f"layers (style_layers); {type(self.backbone).__name__} does not"
                )
            modules = dict(self.backbone.named_modules())
            for name in layers:
                self._hooks.append(
                    modules[name].register_forward_hook(lambda _m, _i, out: self.mixstyle(out))
                )

    def encoder_input(self, feat: torch.Tensor) -> torch.Tensor:
        """F(x) with the gradient from E's losses scaled by ``f_from_e`` (same values)."""
        if self.f_from_e == 1.0:
            return feat
        return self.f_from_e * feat + (1.0 - self.f_from_e) * feat.detach()

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
        return self.assemble(batch, (-1, -1, -1), biased_j, biased_k, step)

    def losses(self, ep: Episode, batch: Batch) -> dict[str, tuple[float, torch.Tensor]]:
        terms = super().losses(ep, batch)
        if self.tri_global:
            tri_g = batch_hard_triplet(self.metric_space(ep.v), batch.pids, self.margin)
            terms["tri_global"] = (self.lambda_tri, tri_g)
        if self.consis_global:
            consis_g = consistency_loss(self.metric_space(ep.v), self.metric_space(ep.v_j))
            terms["consis_global"] = (self.lambda_consis, consis_g)
        terms.update(self.own_terms(ep.pooled, ep.feat, batch.pids))
        return terms

    def own_terms(
        self,
        pooled: torch.Tensor,
        feat: torch.Tensor,
        pids: torch.Tensor,
        rows: torch.Tensor | None = None,
    ) -> dict[str, tuple[float, torch.Tensor]]:
        """F's own losses (``f_tri`` on its pooled feature, ``f_id`` through its BNNeck), over
        the batch or over its ``rows`` (a mask; the neck still normalises the whole batch)."""
        terms: dict[str, tuple[float, torch.Tensor]] = {}
        neck = self.f_neck(feat) if self.f_neck is not None else None
        if rows is not None:
            pooled, pids = pooled[rows], pids[rows]
            neck = None if neck is None else neck[rows]
        if self.f_tri > 0:
            terms["f_tri"] = (self.f_tri, batch_hard_triplet(pooled, pids, self.margin))
        if neck is not None and self.f_classifier is not None:
            logits = self.f_classifier(neck)
            terms["f_id"] = (self.f_id, label_smoothed_ce(logits, pids, self.label_smooth))
        return terms

    def meta_test_domain(self, domains: torch.Tensor, step: int) -> int | None:
        """The source domain held out as meta-test in this step (a pure function of ``(seed,
        step)`` and the batch's domains), or None when the batch holds a single domain."""
        present = sorted(set(domains.tolist()))
        if len(present) < 2:
            return None
        return int(np.random.default_rng([self.seed, step, 2018]).choice(present))

    def meta_terms(
        self, ep: Episode, batch: Batch, step: int
    ) -> dict[str, tuple[float, torch.Tensor]] | None:
        """F's own losses split into meta-train and meta-test (first-order MLDG), or None when
        the batch holds one domain. The meta-train images' own losses (``f_id``, ``f_tri``,
        from the step's pass) give a gradient g; ``meta`` is the meta-test images' own losses
        with F's weights at ``theta - meta_lr * g`` (g a constant). Each part is weighed by its
        share of the batch, so that at ``meta_lr`` 0 the id loss is the whole batch's, as
        without meta episodes. Both passes run the whole batch through F (BatchNorm's statistics
        are the batch's; a held-out domain alone is a handful of images); only the losses are
        split."""
        held = self.meta_test_domain(batch.domains, step)
        if held is None:
            return None
        test = batch.domains == held
        train = ~test
        share = float(test.float().mean())
        inner = self.own_terms(ep.pooled, ep.feat, batch.pids, rows=train)
        inner_loss = torch.stack([w * v for w, v in inner.values()]).sum()
        names = [n for n, p in self.backbone.named_parameters() if p.requires_grad]
        params = [p for p in self.backbone.parameters() if p.requires_grad]
        grads = torch.autograd.grad(inner_loss, params, retain_graph=True, allow_unused=True)
        fast = {
            f"backbone.{n}": p if g is None else p - self.meta_lr * g.detach()
            for n, p, g in zip(names, params, grads)
        }
        pooled, feat = torch.func.functional_call(
            _PooledAndFeature(self.backbone), fast, (batch.images,), strict=False
        )
        outer = self.own_terms(pooled, feat, batch.pids, rows=test)
        terms = {name: ((1.0 - share) * w, v) for name, (w, v) in inner.items()}
        terms["meta"] = (share, torch.stack([w * v for w, v in outer.values()]).sum())
        return terms

    def step_terms(self, batch: Batch, step: int) -> dict[str, tuple[float, torch.Tensor]]:
        """:meth:`losses`, with F's own losses split into meta-train and meta-test parts
        (:meth:`meta_terms`) when ``meta_lr`` > 0 and the batch holds several domains."""
        ep = self.episode(batch, step)
        terms = self.losses(ep, batch)
        if self.meta_lr > 0:
            terms.update(self.meta_terms(ep, batch, step) or {})
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
