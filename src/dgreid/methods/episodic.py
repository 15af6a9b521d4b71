"""Stage 2 of the paper: cross-domain episodic training of F, E and C (METHOD.md).

One iteration is one episode: the batch is a PK batch of domain i; two other domains j != k are
drawn from ``(seed, step)``, so a resumed run draws the same ones. The frozen extractors F_j, F_k
give domain-biased features of the same images; E must make them agree (L_consis) and
discriminate identities (L_tri), while C(E(F(x))) learns the ids of all sources (L_cls).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from dgreid.config.checks import at_least, each, free, one_of
from dgreid.config.schema import Config, MethodSettings
from dgreid.errors import TrainingError
from dgreid.losses import batch_hard_triplet, consistency_loss, label_smoothed_ce
from dgreid.methods.base import BuildContext, Method, network_arguments, own_settings
from dgreid.methods.extractor import EXTRACTOR_FEATURES, NeckFeature
from dgreid.methods.registry import register_method
from dgreid.models import Backbone, Embedding, build_backbone
from dgreid.structures import Batch

#: method.f_start: F from its own initialisation, or from the stage-0 network (``shared``)
F_STARTS = ("own", "shared")


@dataclass
class EpisodicSettings(MethodSettings):
    """The episodic family's keys: stage 2's loss weights and F, E's start, and stages 0-1."""

    lambda_tri: float = 0.2
    lambda_consis: float = 0.01
    #: L_tri and L_consis on L2-normalised E outputs (scale- and width-free), and the test
    #: feature E(F(x)) L2-normalised too; false = on raw outputs
    normalize: bool = False
    #: what F_i hands to E: "raw" (pooled backbone feature) or "neck" (its BNNeck)
    extractor_feature: str = "raw"
    #: where F starts: "shared" (the stage-0 network, as in the paper every network shares one
    #: start) or "own" (its ImageNet / user weights, or its random initialisation)
    f_start: str = "shared"
    stage1_epochs: int = 0  # epochs of each F_i; 0 = same as train.epochs
    #: epochs of the stage-0 network (F's network trained on the union of the sources, from
    #: ImageNet weights where they exist: F's start and the F_i's; as many iterations per epoch
    #: as an average domain's); 0 = stage1_epochs
    stage0_epochs: int = 0
    #: stage-1 LR milestones (epochs); empty = train.lr_steps
    stage1_lr_steps: list[int] = field(default_factory=list)
    #: where trained stage-1 extractors are kept and reused ("" = RUN/stage1)
    stage1_dir: str = ""

    rules: ClassVar[dict[str, Any]] = {
        "lambda_tri": at_least(0),
        "lambda_consis": at_least(0),
        "normalize": free("true or false"),
        "extractor_feature": one_of(lambda: EXTRACTOR_FEATURES),
        "f_start": one_of(lambda: F_STARTS),
        "stage1_epochs": at_least(0),
        "stage0_epochs": at_least(0),
        "stage1_lr_steps": each(at_least(1)),
        "stage1_dir": free("a folder"),
    }


def episodic_settings(cfg: Config) -> EpisodicSettings:
    """The episodic family's own keys of ``cfg`` (refused for another method's config)."""
    return own_settings(cfg, EpisodicSettings)


def require_episode_domains(method: str, names: Sequence[str], count: int | None = None) -> None:
    """Refuse fewer than 3 source domains: an episode needs i, j, k distinct. ``count``
    defaults to ``len(names)``; the message lists the names given."""
    count = len(names) if count is None else count
    if count < 3:
        given = ", ".join(names) if names else f"{count} extractor(s)"
        raise TrainingError(
            f"{method} training needs at least 3 source domains (i, j, k distinct) to form an "
            f"episode; got {count}: {given}"
        )


def feature_width(module: nn.Module) -> int:
    """The output width of an extractor (its ``out_features``)."""
    width = getattr(module, "out_features", None)
    if not isinstance(width, int):
        raise TrainingError(f"extractor {type(module).__name__} has no integer out_features")
    return width


@contextmanager
def running_stats_frozen(module: nn.Module) -> Iterator[None]:
    """Batch statistics still normalise, but BatchNorm running statistics are not updated.

    E sees three inputs per episode; its running statistics (used at test time, where E only
    sees F(x)) are kept for the F(x) pass alone.
    """
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch
    try:
        yield
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom


@register_method("episodic", EpisodicSettings)
class EpisodicMethod(Method):
    """F (DualNorm + linear projection), E (FC-BN-ReLU-FC-BN), C (linear over all source ids).

    ``extractors[d]`` is the frozen F_d of source domain d. They are kept in ``state_dict`` (a
    checkpoint is self-contained) but are never trainable: ``requires_grad`` is off, they stay in
    eval mode whatever ``.train()`` is called with, and they run under ``torch.no_grad``.
    """

    sampler = "episodic"
    needs_domain_extractors = True

    def __init__(
        self,
        *,
        num_classes: int,
        extractors: Sequence[nn.Module],
        domain_names: Sequence[str] | None = None,
        backbone: str = "mobilenetv2_dualnorm",
        pretrained: str = "none",
        width_mult: float = 1.0,
        embed_dim: int = 256,
        lambda_tri: float = 0.2,
        lambda_consis: float = 0.01,
        margin: float = 0.3,
        label_smooth: float = 0.1,
        seed: int = 0,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        names = list(domain_names) if domain_names is not None else []
        require_episode_domains("episodic", names, len(extractors))
        if names and len(names) != len(extractors):
            raise TrainingError(f"{len(extractors)} extractors for {len(names)} domains {names}")
        widths = {feature_width(m) for m in extractors}
        if len(widths) != 1:
            raise TrainingError(f"the extractors' output widths differ: {sorted(widths)}")
        feat_dim = widths.pop()
        self.extractors = nn.ModuleList(extractors)
        self.extractors.requires_grad_(False)
        self.extractors.eval()
        self.backbone: Backbone = build_backbone(backbone, pretrained, width_mult=width_mult)
        self.proj = nn.Linear(self.backbone.out_features, feat_dim)  # F's projection to F_i width
        self.encoder = Embedding(feat_dim, embed_dim, embed_dim)  # E
        self.classifier = nn.Linear(embed_dim, num_classes)  # C
        self.domain_names = names
        self.feat_dim = feat_dim
        self.lambda_tri = lambda_tri
        self.lambda_consis = lambda_consis
        self.margin = margin
        self.label_smooth = label_smooth
        self.seed = seed
        self.normalize = normalize

    @classmethod
    def from_config(cls, cfg: Config, ctx: BuildContext) -> Method:
        return cls(**episodic_arguments(cfg, ctx))

    def train(self, mode: bool = True) -> EpisodicMethod:
        """Switch F, E, C to ``mode``; the frozen extractors always stay in eval mode."""
        super().train(mode)
        self.extractors.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        frozen = {id(p) for p in self.extractors.parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in frozen]

    def pick_domains(self, i: int, step: int) -> tuple[int, int]:
        """Two distinct domains j, k != i, a pure function of ``(seed, step, i)``."""
        others = [d for d in range(len(self.extractors)) if d != i]
        rng = np.random.default_rng([self.seed, step, i])
        j, k = rng.choice(others, size=2, replace=False)
        return int(j), int(k)

    def episode_domain(self, batch: Batch) -> int:
        """The domain i of an episodic batch (all images must share it)."""
        doms = batch.domains.unique()
        i = int(doms[0])
        if doms.numel() != 1 or not 0 <= i < len(self.extractors):
            raise TrainingError(
                f"an episodic batch must hold one source domain in 0..{len(self.extractors) - 1}; "
                f"got domains {doms.tolist()} (use the 'episodic' sampler)"
            )
        return i

    def global_feature(self, images: torch.Tensor) -> torch.Tensor:
        """F(x): the DualNorm feature projected to the extractors' width (E's input)."""
        return self.proj(self.backbone(images))

    def metric_space(self, v: torch.Tensor) -> torch.Tensor:
        """Where L_tri and L_consis measure E's outputs: as they are (the paper), or
        L2-normalised (``normalize``: the losses then depend neither on the embedding width nor
        on the feature scale; L_consis = 2 - 2 cos, triplet distances in [0, 2])."""
        return nn.functional.normalize(v, dim=1) if self.normalize else v

    def episode(self, batch: Batch, step: int) -> Episode:
        """The features of one episode (METHOD.md steps 1-4 and C's logits)."""
        i = self.episode_domain(batch)
        j, k = self.pick_domains(i, step)
        with torch.no_grad():
            biased_j = self.extractors[j](batch.images)
            biased_k = self.extractors[k](batch.images)
        return self.assemble(batch, (i, j, k), biased_j, biased_k)

    def assemble(
        self,
        batch: Batch,
        domains: tuple[int, int, int],
        biased_j: torch.Tensor,
        biased_k: torch.Tensor,
    ) -> Episode:
        """The episode of ``batch`` from the frozen views F_j(x), F_k(x): E of each (running
        statistics untouched), then F's own pass, E(F(x)) and C's logits."""
        with running_stats_frozen(self.encoder):
            v_j, v_k = self.encoder(biased_j), self.encoder(biased_k)
        pooled = self.backbone.pooled(batch.images)
        feat = self.backbone.finish(pooled)
        v = self.encoder(self.proj(feat))
        return Episode(*domains, v_j, v_k, v, self.classifier(v), pooled, feat)

    def losses(self, ep: Episode, batch: Batch) -> dict[str, tuple[float, torch.Tensor]]:
        """The terms of L_total (METHOD.md steps 5-8) as ``name -> (weight, value)``."""
        tri = batch_hard_triplet(self.metric_space(ep.v_j), batch.pids, self.margin)
        consis = consistency_loss(self.metric_space(ep.v_j), self.metric_space(ep.v_k))
        cls = label_smoothed_ce(ep.logits, batch.pids, self.label_smooth)
        return {
            "cls": (1.0, cls),
            "tri": (self.lambda_tri, tri),
            "consis": (self.lambda_consis, consis),
        }

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        terms = self.losses(self.episode(batch, step), batch)
        loss = torch.stack([weight * value for weight, value in terms.values()]).sum()
        return {"loss": loss, **{name: value.detach() for name, (_, value) in terms.items()}}

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.metric_space(self.encoder(self.global_feature(images)))


@dataclass
class Episode:
    """One episode: domains i (the batch), j, k (-1 each when they differ per image, as in
    ``episodic_plus``'s mixed episodes); E(F_j(x)), E(F_k(x)), E(F(x)), C's logits, F's
    pooled feature before its feature BatchNorm and the projection (``Backbone.pooled``), and
    F(x) itself (``Backbone.finish`` of it, before the projection)."""

    i: int
    j: int
    k: int
    v_j: torch.Tensor
    v_k: torch.Tensor
    v: torch.Tensor
    logits: torch.Tensor
    pooled: torch.Tensor
    feat: torch.Tensor


def placeholder_extractor(cfg: Config) -> nn.Module:
    """An untrained F_i of the shape a trained one has (filled by ``load_state_dict``)."""
    backbone = build_backbone(cfg.model.extractor, "none")
    if episodic_settings(cfg).extractor_feature == "neck":
        return NeckFeature(backbone, nn.BatchNorm1d(backbone.out_features))
    return backbone


def episodic_arguments(cfg: Config, ctx: BuildContext) -> dict[str, Any]:
    """The constructor arguments of :class:`EpisodicMethod` (and of the methods derived from
    it): the stage-1 extractors (untrained placeholders when ``ctx.placeholder_extractors``),
    F, E and C's sizes and the loss weights."""
    own = episodic_settings(cfg)
    sources = list(cfg.data.sources)
    require_episode_domains(cfg.method.name, sources, ctx.num_domains)
    extractors = ctx.extractors
    if extractors is None:
        if not ctx.placeholder_extractors:
            raise TrainingError(
                f"{cfg.method.name}: stage 2 needs the trained stage-1 extractors (one per "
                "source domain)"
            )
        extractors = [placeholder_extractor(cfg) for _ in range(ctx.num_domains)]
    return dict(
        num_classes=ctx.num_classes,
        extractors=extractors,
        domain_names=sources if len(sources) == len(extractors) else None,
        **network_arguments(cfg),
        embed_dim=cfg.model.embed_dim,
        lambda_tri=own.lambda_tri,
        lambda_consis=own.lambda_consis,
        margin=cfg.method.margin,
        seed=cfg.train.seed,
        normalize=own.normalize,
    )
