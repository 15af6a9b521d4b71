"""``dgreid compare``: train (or reuse) every method of a spec on the same data, splits and
budget, pool their results, and write the paper's Tables III-V with mean ± std over splits and
seeds (rendered by :mod:`dgreid.report.tables`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from dgreid.config import Config, ConfigError, config_to_dict
from dgreid.config.loader import read_saved_config
from dgreid.data.datasets import build_dataset
from dgreid.engine.checkpoint_file import resume_diff
from dgreid.errors import DgreidError
from dgreid.evaluation.splits import save_splits
from dgreid.experiments.evaluate import draw_splits
from dgreid.experiments.published import SOURCES, TARGETS
from dgreid.experiments.rundir import CONFIG_NAME, RESULTS_NAME
from dgreid.experiments.spec import CompareSpec
from dgreid.experiments.synthdata import ensure_synthetic_data
from dgreid.experiments.train_run import run_training
from dgreid.report.plots import plot_cmc
from dgreid.report.tables import (
    CompareResult,
    MeanStd,
    MethodSummary,
    display_name,
    tables_json,
    tables_markdown,
)
from dgreid.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


def _shared_splits(cfg: Config, out: Path) -> Path:
    """Draw the targets' splits once for all methods (reused when the file exists)."""
    path = out / "splits.json"
    if not path.exists():
        datasets = {t: build_dataset(t, cfg.data.root) for t in cfg.data.targets}
        splits = draw_splits(cfg, datasets)
        save_splits(path, splits, {t: str(ds.root) for t, ds in datasets.items()})
    return path


def _finished(cfg: Config) -> bool:
    """A run folder whose results exist and whose saved config equals ``cfg``."""
    out = Path(cfg.output_dir)
    saved = out / CONFIG_NAME
    if not (out / RESULTS_NAME).exists() or not (out / "model.pt").exists() or not saved.exists():
        return False
    return not resume_diff(read_saved_config(saved), config_to_dict(cfg))


def train_all(spec: CompareSpec, extra: list[str]) -> dict[str, list[Path]]:
    """Train every (method, seed) that has no finished run yet; return the run folders."""
    out = Path(spec.output_dir)
    first = next(iter(spec.methods))
    cfg0 = spec.run_config(first, spec.seeds[0], extra)
    ensure_synthetic_data(cfg0)
    out.mkdir(parents=True, exist_ok=True)
    splits = _shared_splits(cfg0, out)
    shared = [f"eval.splits_file={splits}", f"method.stage1_dir={out / 'stage1'}", *extra]
    runs: dict[str, list[Path]] = {}
    for name in spec.methods:
        for seed in spec.seeds:
            cfg = spec.run_config(name, seed, shared)
            run_dir = Path(cfg.output_dir)
            runs.setdefault(name, []).append(run_dir)
            if _finished(cfg):
                log.info("compare: %s (seed %d) already finished in %s", name, seed, run_dir)
                continue
            resume = (run_dir / CONFIG_NAME).exists()
            log.info("compare: training %s (seed %d) in %s", name, seed, run_dir)
            run_training(cfg, resume=resume, resume_hint="the same dgreid command (it resumes)")
    return runs


def _mean_std(values: list[float]) -> MeanStd:
    """Mean and std (ddof 0); one value has no spread (std None)."""
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), (float(arr.std()) if arr.size > 1 else None)


def _draws(run: Path, splits: dict[str, list[dict[str, Any]]]) -> list[dict[str, dict[str, Any]]]:
    """One run's evaluations as draws: draw i holds split i of each target; a target evaluated
    once (its own query/gallery) takes part in every draw with that one evaluation."""
    n = max(len(s) for s in splits.values())
    odd = {t: len(s) for t, s in splits.items() if len(s) not in (1, n)}
    if odd:
        raise DgreidError(
            f"{run / RESULTS_NAME}: targets have {n} splits but {odd}; every target has the "
            "run's number of splits, or one (its own query/gallery)"
        )
    return [{t: s[i if len(s) > 1 else 0] for t, s in splits.items()} for i in range(n)]


def summarise(name: str, run_dirs: list[Path], targets: list[str]) -> MethodSummary:
    """Pool every split of every seed of one method."""
    import json

    summary = MethodSummary(name, run_dirs)
    per_target: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    draws: list[dict[str, dict[str, Any]]] = []
    for run in run_dirs:
        data = json.loads((run / RESULTS_NAME).read_text(encoding="utf-8"))
        splits = {t: data["targets"][t]["splits"] for t in targets}
        for t in targets:
            per_target[t].extend(splits[t])
        draws.extend(_draws(run, splits))
        src = run / "results_sources.json"
        if src.exists():
            s = json.loads(src.read_text(encoding="utf-8"))
            summary.source_rank1 = float(s["average"]["rank1"])
    for t, splits_of in per_target.items():
        summary.rank1[t] = _mean_std([s["rank1"] for s in splits_of])
        summary.mAP[t] = _mean_std([s["mAP"] for s in splits_of])
        summary.cmc[t] = np.mean([s["cmc"] for s in splits_of], axis=0).tolist()
    # the average over targets, per (seed, split) draw, so its std is over splits and seeds
    summary.avg_rank1 = _mean_std([float(np.mean([d[t]["rank1"] for t in targets])) for d in draws])
    summary.avg_mAP = _mean_std([float(np.mean([d[t]["mAP"] for t in targets])) for d in draws])
    return summary


def run_compare(
    spec: CompareSpec, quick: bool = False, overrides: list[str] | None = None
) -> CompareResult:
    """Train what is missing, then build the tables, JSON and CMC plots. ``overrides`` apply
    to every run (after the spec's own and ``quick``'s), e.g. ``data.root=...``."""
    bad = [o for o in overrides or [] if o.split("=", 1)[0].strip() == "output_dir"]
    if bad:
        raise ConfigError(
            f"{bad[0]}: each run's folder comes from the spec; change its output_dir instead"
        )
    extra = [*(spec.quick if quick else []), *(overrides or [])]
    runs = train_all(spec, extra)
    cfg0 = spec.run_config(next(iter(spec.methods)), spec.seeds[0], extra)
    targets = list(cfg0.data.targets)
    result = CompareResult(
        methods={m: summarise(m, dirs, targets) for m, dirs in runs.items()},
        targets=targets,
        out_dir=Path(spec.output_dir),
        paper_protocol=sorted(targets) == sorted(TARGETS)
        and sorted(cfg0.data.sources) == sorted(SOURCES),
    )
    write_outputs(result)
    return result


def write_outputs(result: CompareResult) -> None:
    """``tables.md``, ``tables.json`` and one CMC plot per target, into the comparison's folder."""
    out = result.out_dir
    atomic_write_text(out / "tables.md", tables_markdown(result))
    atomic_write_json(out / "tables.json", tables_json(result))
    result.files = {"markdown": out / "tables.md", "json": out / "tables.json"}
    for t in result.targets:
        curves = {display_name(m): s.cmc[t] for m, s in result.methods.items()}
        result.files[f"cmc_{t}"] = plot_cmc(out / f"cmc_{t}.png", curves, f"CMC on {t}")
