"""The one place a method reads the run config: :func:`method_from_config`.

Each registered method has an adapter here that maps config fields onto its constructor's
explicit arguments (one adapter may serve several methods that take the same arguments). Fields
a method does not use are not read. A new method of the episodic family (stage-1 extractors,
E and C) starts from :func:`episodic_arguments` and adds its own keywords::

    @_adapter("episodic_plus")
    def _episodic_plus(cfg: Config, ctx: BuildContext) -> Method:
        return build_method("episodic_plus", **episodic_arguments(cfg, ctx), extra=...)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from dgreid.config.schema import Config
from dgreid.errors import DgreidError, TrainingError
from dgreid.methods.base import Method
from dgreid.methods.episodic import require_episode_domains
from dgreid.methods.extractor import NeckFeature
from dgreid.methods.registry import METHODS, build_method
from dgreid.models import build_backbone


@dataclass(frozen=True)
class BuildContext:
    """What the caller knows beyond the config (dataset sizes, stage-1 results, schedule)."""

    num_classes: int
    num_domains: int
    extractors: Sequence[nn.Module] | None
    total_steps: int
    pid_offset: int
    placeholder_extractors: bool


Adapter = Callable[[Config, BuildContext], Method]
_ADAPTERS: dict[str, Adapter] = {}


def _adapter(*names: str) -> Callable[[Adapter], Adapter]:
    """Register ``fn`` as the adapter of every method in ``names`` (refusing a second one)."""

    def deco(fn: Adapter) -> Adapter:
        for name in names:
            if name in _ADAPTERS:
                raise ValueError(f"method {name!r} already has a config adapter")
            _ADAPTERS[name] = fn
        return fn

    return deco


def method_from_config(
    cfg: Config,
    num_classes: int,
    num_domains: int,
    extractors: Sequence[nn.Module] | None = None,
    *,
    total_steps: int = 0,
    pid_offset: int = 0,
    placeholder_extractors: bool = False,
) -> Method:
    """Build ``cfg.method.name`` for ``num_classes`` source ids over ``num_domains`` domains.

    - ``extractors``: the trained stage-1 F_i (episodic only), index = domain index.
    - ``placeholder_extractors``: episodic without trained extractors, building untrained
      ``cfg.model.extractor`` networks to be filled by ``load_state_dict`` (checkpoint loading).
    - ``total_steps``: the run's iteration count (DANN's schedule); 0 derives it from
      ``train.max_iters`` or ``train.epochs * train.iters_per_epoch``.
    - ``pid_offset``: the first global id of the domain (extractor only; ``num_classes`` is then
      that domain's id count).
    """
    name = cfg.method.name
    METHODS.get(name)  # unknown name -> KeyError listing the valid ones
    if name not in _ADAPTERS:
        raise DgreidError(f"method {name!r} is registered but has no config adapter")
    ctx = BuildContext(
        num_classes, num_domains, extractors, total_steps, pid_offset, placeholder_extractors
    )
    return _ADAPTERS[name](cfg, ctx)


@_adapter("baseline", "dualnorm")
def _single_network(cfg: Config, ctx: BuildContext) -> Method:
    """One backbone and an id classifier (``dualnorm`` only checks its backbone is DualNorm)."""
    return build_method(
        cfg.method.name,
        num_classes=ctx.num_classes,
        backbone=cfg.model.backbone,
        pretrained=cfg.model.pretrained,
        width_mult=cfg.model.width_mult,
        label_smooth=cfg.method.label_smooth,
        **id_recipe(cfg),
    )


def id_recipe(cfg: Config) -> dict[str, Any]:
    """The single-network methods' recipe switches (BNNeck, triplet on the feature)."""
    return dict(
        bnneck=cfg.method.bnneck, feature_tri=cfg.method.feature_tri, margin=cfg.method.margin
    )


@_adapter("dann")
def _dann(cfg: Config, ctx: BuildContext) -> Method:
    total = ctx.total_steps or cfg.train.max_iters or cfg.train.epochs * cfg.train.iters_per_epoch
    if total <= 0:
        raise TrainingError(
            "dann: the reversal-weight schedule needs the run length; pass total_steps or set "
            "train.iters_per_epoch (or train.max_iters)"
        )
    return build_method(
        "dann",
        num_classes=ctx.num_classes,
        num_domains=ctx.num_domains,
        total_steps=total,
        backbone=cfg.model.backbone,
        pretrained=cfg.model.pretrained,
        width_mult=cfg.model.width_mult,
        label_smooth=cfg.method.label_smooth,
        lambda_domain=cfg.method.lambda_domain,
        **id_recipe(cfg),
    )


@_adapter("dimn")
def _dimn(cfg: Config, ctx: BuildContext) -> Method:
    return build_method(
        "dimn",
        num_classes=ctx.num_classes,
        backbone=cfg.model.backbone,
        pretrained=cfg.model.pretrained,
        width_mult=cfg.model.width_mult,
        label_smooth=cfg.method.label_smooth,
    )


@_adapter("extractor")
def _extractor(cfg: Config, ctx: BuildContext) -> Method:
    return build_method(
        "extractor",
        num_classes=ctx.num_classes,
        backbone=cfg.model.extractor,
        pretrained=cfg.model.pretrained,
        width_mult=cfg.model.width_mult,
        pid_offset=ctx.pid_offset,
        margin=cfg.method.margin,
        label_smooth=cfg.method.label_smooth,
    )


def placeholder_extractor(cfg: Config) -> nn.Module:
    """An untrained F_i of the shape a trained one has (filled by ``load_state_dict``)."""
    backbone = build_backbone(cfg.model.extractor, "none")
    if cfg.method.extractor_feature == "neck":
        return NeckFeature(backbone, nn.BatchNorm1d(backbone.out_features))
    return backbone


def episodic_arguments(cfg: Config, ctx: BuildContext) -> dict[str, Any]:
    """The constructor arguments of :class:`~dgreid.methods.episodic.EpisodicMethod` (and of
    the methods derived from it): the stage-1 extractors (untrained placeholders when
    ``ctx.placeholder_extractors``), F, E and C's sizes and the loss weights."""
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
        backbone=cfg.model.backbone,
        pretrained=cfg.model.pretrained,
        width_mult=cfg.model.width_mult,
        embed_dim=cfg.model.embed_dim,
        lambda_tri=cfg.method.lambda_tri,
        lambda_consis=cfg.method.lambda_consis,
        margin=cfg.method.margin,
        label_smooth=cfg.method.label_smooth,
        seed=cfg.train.seed,
        normalize=cfg.method.normalize,
        head_warmup=cfg.method.head_warmup,
        proj_init=cfg.method.proj_init,
    )


@_adapter("episodic")
def _episodic(cfg: Config, ctx: BuildContext) -> Method:
    return build_method("episodic", **episodic_arguments(cfg, ctx))


@_adapter("episodic_plus")
def _episodic_plus(cfg: Config, ctx: BuildContext) -> Method:
    return build_method(
        "episodic_plus",
        **episodic_arguments(cfg, ctx),
        test_feature=cfg.method.test_feature,
        f_tri=cfg.method.f_tri,
        f_id=cfg.method.f_id,
        mixed_episodes=cfg.method.mixed_episodes,
    )
