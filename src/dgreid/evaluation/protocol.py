"""The DG protocol runner: features once per target, then metrics per split, mean and std.

``run_protocol`` -> :class:`ProtocolResult`; ``format_table`` prints it, ``result_to_dict``
makes it JSON, ``write_protocol_outputs`` writes results.json and splits.json atomically.
Metric values are fractions in [0, 1] (the table shows percent); std is over splits (ddof=0).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dgreid.evaluation.distance import compute_distance
from dgreid.evaluation.extract import extract_features
from dgreid.evaluation.metrics import EvaluationError, compute_rank_metrics
from dgreid.evaluation.rerank import Rerank, rerank_features
from dgreid.evaluation.splits import Split, SplitsFileError, make_splits, save_splits
from dgreid.structures import ImageRecord, ReIDDataset
from dgreid.utils.io import atomic_write_json
from dgreid.utils.text import aligned

#: The summary metrics, in table order.
METRIC_KEYS = ("rank1", "rank5", "rank10", "rank20", "mAP", "mINP")
_RANKS = {"rank1": 1, "rank5": 5, "rank10": 10, "rank20": 20}
#: A method's own pairwise distance: (query feats, gallery feats) -> (num_query, num_gallery).
DistanceFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class SplitResult:
    """Metrics of one split; ``cmc[k]`` is the rank-(k+1) accuracy."""

    metrics: dict[str, float]
    cmc: list[float]
    num_query: int
    num_gallery: int
    num_skipped: int


@dataclass
class TargetResult:
    """All splits of one target and their mean and std per metric."""

    name: str
    splits: list[SplitResult]
    mean: dict[str, float]
    std: dict[str, float]


@dataclass
class ProtocolResult:
    """Per-target results, the average over targets, and the splits they came from."""

    targets: dict[str, TargetResult]
    average: dict[str, float]
    metric: str  # "custom" when a distance_fn ranked the pairs
    splits: dict[str, list[Split]] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)
    rerank: Rerank | None = None  # the k-reciprocal re-ranking applied, if any


def run_protocol(
    model: Callable[[torch.Tensor], torch.Tensor],
    targets: Mapping[str, ReIDDataset],
    *,
    splits: Mapping[str, list[Split]] | None = None,
    num_splits: int = 10,
    seed: int = 0,
    metric: str = "euclidean",
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    flip: bool = False,
    height: int = 256,
    width: int = 128,
    workers: int = 0,
    progress: bool = True,
    distance_fn: DistanceFn | None = None,
    rerank: Rerank | None = None,
) -> ProtocolResult:
    """Evaluate ``model`` (images -> features) on each target dataset.

    Splits come from ``splits`` (e.g. :func:`~dgreid.evaluation.splits.load_splits`) when
    given, else from ``make_splits(dataset, num_splits, seed)``. Each target's images are
    embedded once; each split is then ranked with ``metric`` distances, or with
    ``distance_fn(query_feats, gallery_feats) -> (Q, G)`` (smaller = closer) when a method
    scores pairs its own way (DIMN). With ``rerank``, each split's distances are k-reciprocal
    re-ranked (:func:`~dgreid.evaluation.rerank.k_reciprocal_rerank`; query-query and
    gallery-gallery distances are computed the same way). Loaded splits hold absolute paths;
    pass ``roots`` to ``load_splits`` if the data moved.
    """
    if not targets:
        raise ValueError("run_protocol: no target datasets given")
    results: dict[str, TargetResult] = {}
    used: dict[str, list[Split]] = {}
    for name, ds in targets.items():
        if splits is not None:
            if name not in splits:
                have = ", ".join(sorted(splits)) or "none"
                raise SplitsFileError(f"the saved splits have no target {name!r} (have: {have})")
            target_splits = list(splits[name])
        else:
            target_splits = make_splits(ds, num_splits=num_splits, seed=seed)
        used[name] = target_splits
        unique = _unique_by_path(target_splits)
        feats = extract_features(
            model, unique, batch_size, device, flip, height, width, workers, progress
        ).features
        row = {r.path: i for i, r in enumerate(unique)}
        per_split = [
            _evaluate_split(feats, row, s, metric, distance_fn, rerank) for s in target_splits
        ]
        results[name] = _summarise(name, per_split)
    average = {k: float(np.mean([t.mean[k] for t in results.values()])) for k in METRIC_KEYS}
    return ProtocolResult(
        targets=results,
        average=average,
        metric=metric if distance_fn is None else "custom",
        splits=used,
        roots={n: str(ds.root) for n, ds in targets.items()},
        rerank=rerank,
    )


def _unique_by_path(splits: list[Split]) -> list[ImageRecord]:
    seen: dict[str, ImageRecord] = {}
    for s in splits:
        for r in (*s.query, *s.gallery):
            seen.setdefault(r.path, r)
    return list(seen.values())


def _evaluate_split(
    feats: torch.Tensor,
    row: dict[str, int],
    split: Split,
    metric: str,
    distance_fn: DistanceFn | None = None,
    rerank: Rerank | None = None,
) -> SplitResult:
    qi = torch.tensor([row[r.path] for r in split.query], dtype=torch.long)
    gi = torch.tensor([row[r.path] for r in split.gallery], dtype=torch.long)
    if rerank is None:
        dist = _distance(feats[qi], feats[gi], metric, distance_fn)
    else:
        dist = rerank_features(
            feats[qi], feats[gi], lambda a, b: _distance(a, b, metric, distance_fn), rerank
        )
    m = compute_rank_metrics(
        dist,
        np.array([r.pid for r in split.query]),
        np.array([r.pid for r in split.gallery]),
        np.array([r.camid for r in split.query]),
        np.array([r.camid for r in split.gallery]),
        max_rank=50,
    )
    values = {k: float(m.cmc[r - 1]) for k, r in _RANKS.items()}
    values.update(mAP=m.mAP, mINP=m.mINP)
    return SplitResult(values, m.cmc.tolist(), len(split.query), len(split.gallery), m.num_skipped)


def _distance(
    a: torch.Tensor, b: torch.Tensor, metric: str, distance_fn: DistanceFn | None
) -> torch.Tensor:
    """``len(a) x len(b)`` distances: ``metric``, or the method's own ``distance_fn``."""
    if distance_fn is None:
        return compute_distance(a, b, metric=metric)
    with torch.inference_mode():
        dist = distance_fn(a, b).detach().float().cpu()
    if tuple(dist.shape) != (len(a), len(b)):
        raise EvaluationError(
            f"distance_fn returned shape {tuple(dist.shape)}, expected ({len(a)}, {len(b)})"
        )
    return dist


def _summarise(name: str, splits: list[SplitResult]) -> TargetResult:
    table = np.array([[s.metrics[k] for k in METRIC_KEYS] for s in splits])
    return TargetResult(
        name=name,
        splits=splits,
        mean=dict(zip(METRIC_KEYS, table.mean(0).tolist())),
        std=dict(zip(METRIC_KEYS, table.std(0).tolist())),
    )


def format_table(result: ProtocolResult, keys: tuple[str, ...] = METRIC_KEYS) -> str:
    """A text table: one row per target and the average, ``mean ± std`` over the splits in
    percent (the mean alone for one split).

    mINP equals mAP where each query has one true match in the gallery (a single-shot gallery,
    as in VIPeR): such a target's mINP cell reads ``= mAP``, and when every target is one, the
    column is left out and a note under the table says why.
    """
    same = {n for n, t in result.targets.items() if _minp_is_map(t)} if "mINP" in keys else set()
    dropped = bool(same) and same == set(result.targets) and "mAP" in keys
    if dropped:
        keys = tuple(k for k in keys if k != "mINP")
    head = ["target", "splits", *keys]
    rows = []
    for name, t in result.targets.items():
        one = len(t.splits) == 1
        cells = [
            "= mAP" if k == "mINP" and name in same
            else f"{100 * t.mean[k]:.1f}" if one
            else f"{100 * t.mean[k]:.1f} ± {100 * t.std[k]:.1f}"
            for k in keys
        ]  # fmt: skip
        rows.append([t.name, str(len(t.splits)), *cells])
    rows.append(["average", "", *[f"{100 * result.average[k]:.1f}" for k in keys]])
    top, *body, bottom = aligned([head, *rows])
    rule = "-" * len(top)
    lines = [top, rule, *body, rule, bottom]
    if dropped:
        lines.append("mINP not shown: it equals mAP on every split (one true match per query)")
    if result.rerank is not None:
        lines.append(f"distances k-reciprocal re-ranked ({_rerank_text(result.rerank)})")
    return "\n".join(lines)


def _rerank_text(r: Rerank) -> str:
    return f"k1={r.k1}, k2={r.k2}, lambda={r.lambda_value:g}"


def _minp_is_map(target: TargetResult) -> bool:
    """Whether mINP equals mAP on every split of ``target`` (one true match per query)."""
    return all(abs(s.metrics["mINP"] - s.metrics["mAP"]) < 1e-9 for s in target.splits)


def result_to_dict(result: ProtocolResult) -> dict[str, Any]:
    """JSON-ready form of ``result`` (fractions in [0, 1]; splits are saved separately)."""
    return {
        "metric": result.metric,
        "rerank": None if result.rerank is None else dataclasses.asdict(result.rerank),
        "units": "fraction",
        "targets": {
            name: {
                "num_splits": len(t.splits),
                "mean": t.mean,
                "std": t.std,
                "splits": [
                    {
                        **s.metrics,
                        "num_query": s.num_query,
                        "num_gallery": s.num_gallery,
                        "num_skipped": s.num_skipped,
                        "cmc": s.cmc,
                    }
                    for s in t.splits
                ],
            }
            for name, t in result.targets.items()
        },
        "average": result.average,
    }


def write_protocol_outputs(
    out_dir: str | Path,
    result: ProtocolResult,
    splits: Mapping[str, list[Split]] | None = None,
) -> dict[str, Path]:
    """Write ``results.json`` and ``splits.json`` (atomically) into ``out_dir``."""
    out = Path(out_dir)
    paths = {"results": out / "results.json", "splits": out / "splits.json"}
    save_splits(paths["splits"], splits if splits is not None else result.splits, result.roots)
    atomic_write_json(paths["results"], result_to_dict(result))
    return paths
