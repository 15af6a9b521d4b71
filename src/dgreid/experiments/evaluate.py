"""Evaluate a trained method: the DG protocol on the targets, and the held-out source test."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dgreid.config import Config, ConfigError
from dgreid.data.datasets import build_dataset
from dgreid.data.sources import SourceSet
from dgreid.evaluation.protocol import (
    ProtocolResult,
    format_table,
    result_to_dict,
    run_protocol,
    write_protocol_outputs,
)
from dgreid.evaluation.rerank import Rerank
from dgreid.evaluation.splits import (
    CameraProtocol,
    Split,
    SplitsFileError,
    load_splits,
    make_splits,
    own_split,
)
from dgreid.methods.base import Method
from dgreid.structures import ReIDDataset
from dgreid.utils.io import atomic_write_json

log = logging.getLogger(__name__)

Embed = Callable[[torch.Tensor], torch.Tensor]
Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def embedder(method: nn.Module) -> tuple[Embed, Distance | None]:
    """The method's inference feature (eval mode, no grad) and its own distance, if it has one."""
    method.eval()

    def embed(images: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return method.embed(images)  # type: ignore[operator,no-any-return]

    own = getattr(type(method), "pairwise_distance", None)
    if own is None or own is Method.pairwise_distance:
        return embed, None  # the evaluator's configured metric
    return embed, method.pairwise_distance  # type: ignore[return-value]


def camera_protocol(cfg: Config) -> CameraProtocol:
    """``eval.probe_cams`` / ``eval.gallery_cams`` / ``eval.test_ids``: the split protocol of a
    target with no protocol or query/gallery of its own (a custom camera network)."""
    try:
        return CameraProtocol(
            tuple(cfg.eval.probe_cams), tuple(cfg.eval.gallery_cams), cfg.eval.test_ids
        )
    except ValueError as err:
        raise ConfigError(f"eval.probe_cams / eval.gallery_cams / eval.test_ids: {err}") from None


#: what an ``eval.own_query_gallery`` error adds: the key, and where CUHK03's split lives
OWN_HINT = (
    "; eval.own_query_gallery=true evaluates every target on its own query/gallery only (for "
    "CUHK03: put cuhk03_new_protocol_config_labeled.mat, or _detected.mat for cuhk03-detected, "
    "in its folder, docs/datasets.md)"
)


def draw_splits(cfg: Config, datasets: dict[str, ReIDDataset]) -> dict[str, list[Split]]:
    """The targets' seeded splits with ``eval.num_test_ids`` test identities (0: the protocol's,
    or ``eval.test_ids`` for a target split by :func:`camera_protocol`); with
    ``eval.own_query_gallery`` each target's own query/gallery, once (:func:`own_split`)."""
    if cfg.eval.own_query_gallery:
        return {name: own_split(ds, OWN_HINT) for name, ds in datasets.items()}
    n = cfg.eval.num_test_ids or None
    cameras = camera_protocol(cfg)
    return {
        name: make_splits(ds, cfg.eval.num_splits, cfg.eval.split_seed, n, cameras)
        for name, ds in datasets.items()
    }


def rerank_of(cfg: Config) -> Rerank | None:
    """The k-reciprocal re-ranking ``eval.rerank*`` asks for (None: off, the default)."""
    if not cfg.eval.rerank:
        return None
    return Rerank(cfg.eval.rerank_k1, cfg.eval.rerank_k2, cfg.eval.rerank_lambda)


def _ranking_options(cfg: Config, device: torch.device) -> dict[str, Any]:
    """How features are extracted and compared: the same for targets and held-out sources."""
    return dict(
        metric=cfg.eval.metric,
        rerank=rerank_of(cfg),
        batch_size=cfg.eval.batch_size,
        device=device,
        flip=cfg.eval.flip,
        height=cfg.data.height,
        width=cfg.data.width,
        workers=cfg.data.workers,
    )


def rank_targets(
    embed: Embed,
    distance: Distance | None,
    cfg: Config,
    device: torch.device,
    targets: list[str] | None = None,
    splits_file: str | None = None,
    progress: bool = True,
) -> ProtocolResult:
    """The 10-split protocol on ``targets`` (default ``cfg.data.targets``), on the splits of
    ``splits_file`` (None: ``eval.splits_file``; "": no saved splits) or on splits drawn from
    ``cfg.eval``. A target the saved splits lack gets splits drawn from ``cfg.eval`` (seeded)."""
    names = targets or list(cfg.data.targets)
    datasets = {name: build_dataset(name, cfg.data.root) for name in names}
    splits_path = cfg.eval.splits_file if splits_file is None else splits_file
    if splits_path:
        splits = load_splits(splits_path)
        log.info("evaluating on the saved splits of %s", splits_path)
        lacking = {name: ds for name, ds in datasets.items() if name not in splits}
        if lacking:
            log.info(
                "%s: not in %s; splits drawn with eval.split_seed=%d",
                ", ".join(lacking), splits_path, cfg.eval.split_seed,
            )  # fmt: skip
            splits = {**splits, **draw_splits(cfg, lacking)}
        if cfg.eval.own_query_gallery:
            _require_own(splits, datasets, splits_path)
    else:
        splits = draw_splits(cfg, datasets)
    return run_protocol(
        embed,
        datasets,
        splits=splits,
        num_splits=cfg.eval.num_splits,
        seed=cfg.eval.split_seed,
        distance_fn=distance,
        progress=progress,
        **_ranking_options(cfg, device),
    )


def _require_own(
    splits: dict[str, list[Split]], datasets: dict[str, ReIDDataset], path: str
) -> None:
    """Saved splits under ``eval.own_query_gallery``: each target's one split must be its own
    query/gallery (the same number of query and gallery images), not random splits."""
    for name, ds in datasets.items():
        own = own_split(ds, OWN_HINT)[0]
        held = splits[name]
        sizes = [(len(s.query), len(s.gallery)) for s in held]
        if sizes != [(len(own.query), len(own.gallery))]:
            raise SplitsFileError(
                f"{path}: target {name} has {len(held)} split(s) of (query, gallery) sizes "
                f"{sizes}; eval.own_query_gallery=true evaluates it once on its own "
                f"query/gallery ({len(own.query)}, {len(own.gallery)})"
            )


def check_targets(cfg: Config) -> None:
    """Before training: with ``eval.own_query_gallery`` every target must have its own
    query/gallery (an error now, not after hours of training)."""
    if cfg.eval.own_query_gallery:
        for name in cfg.data.targets:
            own_split(build_dataset(name, cfg.data.root), OWN_HINT)


def evaluate_targets(
    embed: Embed,
    distance: Distance | None,
    cfg: Config,
    out_dir: Path | None,
    device: torch.device,
    targets: list[str] | None = None,
    splits_file: str | None = None,
    done: ProtocolResult | None = None,
) -> ProtocolResult:
    """:func:`rank_targets`, then write the results under ``out_dir`` (:func:`targets_table` is
    the result as a titled table).

    ``done``: a result already computed for this model (the trainer's last periodic evaluation),
    reported instead of ranking again."""
    result = done or rank_targets(embed, distance, cfg, device, targets, splits_file)
    if out_dir is not None:
        paths = write_protocol_outputs(out_dir, result)
        log.info("results written to %s", paths["results"])
    return result


def evaluation_title(cfg: Config, targets: list[str]) -> str:
    """The heading of a target table: "unseen targets" only when no target is one of the
    model's sources (``dgreid eval --targets`` may name one: scored, but labelled seen)."""
    seen = [t for t in targets if t in cfg.data.sources]
    if not seen:
        return f"DG evaluation on unseen targets ({cfg.method.name})"
    log.warning(
        "%s: source domain(s) of this model, seen in training; their scores are not DG scores",
        ", ".join(seen),
    )
    kind = "source domain" if len(seen) == 1 else "source domains"
    return f"Evaluation ({cfg.method.name}; {', '.join(seen)}: {kind}, not unseen)"


def evaluate_sources(
    embed: Embed,
    distance: Distance | None,
    cfg: Config,
    out_dir: Path | None,
    sources: SourceSet,
    device: torch.device,
) -> ProtocolResult | None:
    """Rank held-out identities of each source (``data.source_holdout > 0``): the in-domain
    reference that shows how much is lost on unseen domains."""
    if not any(sources.query):
        return None
    datasets = {
        f"{name} (held-out)": ReIDDataset(
            name=name,
            root=Path(cfg.data.root),
            records=[*q, *g],
            query=q,
            gallery=g,
            protocol="standard",
        )
        for name, q, g in zip(sources.domain_names, sources.query, sources.gallery)
        if q and g
    }
    result = run_protocol(
        embed,
        datasets,
        distance_fn=distance,
        **_ranking_options(cfg, device),
    )
    if out_dir is not None:
        atomic_write_json(out_dir / "results_sources.json", result_to_dict(result))
    return result


def evaluate_method(
    method: nn.Module,
    cfg: Config,
    out_dir: Path,
    sources: SourceSet,
    device: torch.device,
    targets_done: ProtocolResult | None = None,
) -> tuple[ProtocolResult, ProtocolResult | None]:
    """Targets (``targets_done`` when the trainer has just evaluated them), then held-out
    sources, for a freshly trained method."""
    embed, distance = embedder(method)
    targets = evaluate_targets(embed, distance, cfg, out_dir, device, done=targets_done)
    log.info("%s", targets_table(targets, cfg))
    held = evaluate_sources(embed, distance, cfg, out_dir, sources, device)
    if held is not None:
        table = format_table(held)
        log.info("Seen source domains, held-out ids (%s):\n%s", cfg.method.name, table)
    return targets, held


def targets_table(result: ProtocolResult, cfg: Config) -> str:
    """The target evaluation of ``cfg``'s model as a table under :func:`evaluation_title`."""
    return f"{evaluation_title(cfg, list(result.targets))}:\n{format_table(result)}"


class PeriodicEvaluation:
    """The target protocol as the trainer's ``eval_fn`` (``train.eval_every``): rank the targets
    with the method as it is, and return a summary for ``metrics.jsonl`` (the average and each
    target's mean, as fractions). The last result is kept, so the run's final evaluation can
    reuse it (:meth:`result_at`) instead of ranking the same model twice."""

    def __init__(self, cfg: Config, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        self.last: tuple[int, ProtocolResult] | None = None

    def __call__(self, method: Method, step: int) -> dict[str, Any]:
        embed, distance = embedder(method)
        result = rank_targets(embed, distance, self.cfg, self.device, progress=False)
        self.last = (step, result)
        log.info("iteration %d: average rank-1 on the targets %.1f %%", step,
                 100 * result.average["rank1"])  # fmt: skip
        return {
            "average": dict(result.average),
            "targets": {name: dict(t.mean) for name, t in result.targets.items()},
        }

    def result_at(self, step: int) -> ProtocolResult | None:
        """The result of the evaluation at iteration ``step``, if that was the last one."""
        return self.last[1] if self.last is not None and self.last[0] == step else None
