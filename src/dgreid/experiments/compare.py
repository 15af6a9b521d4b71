"""``dgreid compare``: train (or reuse) every method of a spec on the same data, splits and
budget, and print the paper's Tables III-V with mean +- std over splits and seeds."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from dgreid.config import Config, ConfigError, config_to_dict
from dgreid.data.datasets import build_dataset
from dgreid.engine.checkpoint import resume_diff
from dgreid.evaluation.splits import save_splits
from dgreid.experiments.evaluate import draw_splits
from dgreid.experiments.published import DISPLAY_NAMES, PAPER_RANK1, TABLES, TARGETS
from dgreid.experiments.rundir import CONFIG_NAME
from dgreid.experiments.spec import CompareSpec
from dgreid.experiments.synthdata import ensure_synthetic_data
from dgreid.experiments.train_run import run_training
from dgreid.report.plots import plot_cmc
from dgreid.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

RESULTS_NAME = "results.json"


@dataclass
class MethodSummary:
    """One method over all its seeds: per target, rank-1 and mAP over splits x seeds."""

    name: str
    run_dirs: list[Path]
    rank1: dict[str, tuple[float, float]] = field(default_factory=dict)  # target -> mean, std
    mAP: dict[str, tuple[float, float]] = field(default_factory=dict)
    cmc: dict[str, list[float]] = field(default_factory=dict)  # target -> mean CMC
    avg_rank1: tuple[float, float] = (0.0, 0.0)
    avg_mAP: tuple[float, float] = (0.0, 0.0)
    source_rank1: float | None = None  # mean rank-1 on held-out source ids, when measured


@dataclass
class CompareResult:
    """All methods, the targets in table order, and where the outputs went."""

    methods: dict[str, MethodSummary]
    targets: list[str]
    out_dir: Path
    paper_protocol: bool
    files: dict[str, Path] = field(default_factory=dict)


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
    data = yaml.safe_load(saved.read_text(encoding="utf-8")) or {}
    return not resume_diff(data, config_to_dict(cfg))


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


def _mean_std(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std())


def summarise(name: str, run_dirs: list[Path], targets: list[str]) -> MethodSummary:
    """Pool every split of every seed of one method."""
    import json

    summary = MethodSummary(name, run_dirs)
    per_target: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    for run in run_dirs:
        data = json.loads((run / RESULTS_NAME).read_text(encoding="utf-8"))
        for t in targets:
            per_target[t].extend(data["targets"][t]["splits"])
        src = run / "results_sources.json"
        if src.exists():
            s = json.loads(src.read_text(encoding="utf-8"))
            summary.source_rank1 = float(s["average"]["rank1"])
    for t, splits in per_target.items():
        summary.rank1[t] = _mean_std([s["rank1"] for s in splits])
        summary.mAP[t] = _mean_std([s["mAP"] for s in splits])
        summary.cmc[t] = np.mean([s["cmc"] for s in splits], axis=0).tolist()
    # the average over targets, per (seed, split) draw, so its std is over splits and seeds
    n = len(per_target[targets[0]])
    summary.avg_rank1 = _mean_std(
        [float(np.mean([per_target[t][i]["rank1"] for t in targets])) for i in range(n)]
    )
    summary.avg_mAP = _mean_std(
        [float(np.mean([per_target[t][i]["mAP"] for t in targets])) for i in range(n)]
    )
    return summary


def mean_std_percent(ms: tuple[float, float]) -> str:
    """``(mean, std)`` of fractions as percent: ``(0.123, 0.01)`` -> ``"12.3 ± 1.0"``."""
    return f"{100 * ms[0]:.1f} ± {100 * ms[1]:.1f}"


def table_markdown(
    result: CompareResult, methods: list[str], metric: str = "rank1", title: str = ""
) -> str:
    """One Markdown table: a row per method, a column per target and the average; the best
    mean in each column in bold."""
    present = [m for m in methods if m in result.methods]
    cols = [*result.targets, "avg"]
    short = [t.removeprefix("synth-") for t in result.targets]
    head = f"| method | {' | '.join([*short, 'avg'])} |"
    lines = [title, "", head, "|" + "---|" * (len(cols) + 1)] if title else [head]
    if not title:
        lines.append("|" + "---|" * (len(cols) + 1))

    def value(m: str, col: str) -> tuple[float, float]:
        s = result.methods[m]
        if col == "avg":
            return s.avg_rank1 if metric == "rank1" else s.avg_mAP
        return (s.rank1 if metric == "rank1" else s.mAP)[col]

    best = {c: max(value(m, c)[0] for m in present) for c in cols}
    for m in present:
        cells = []
        for c in cols:
            v = value(m, c)
            text = mean_std_percent(v)
            cells.append(f"**{text}**" if v[0] == best[c] and len(present) > 1 else text)
        lines.append(f"| {DISPLAY_NAMES.get(m, m)} | {' | '.join(cells)} |")
        if result.paper_protocol and m in PAPER_RANK1 and metric == "rank1":
            pub = [f"{PAPER_RANK1[m][t]:.1f}" for t in (*TARGETS, "avg")]
            lines.append(f"| _{DISPLAY_NAMES.get(m, m)} (paper)_ | {' | '.join(pub)} |")
    return "\n".join(lines)


def tables_markdown(result: CompareResult) -> str:
    """Tables III, IV and V of the paper (rows that were run), then all methods with mAP."""
    parts = [
        "Rank-1 (%) on unseen target domains, mean ± std over splits and seeds; best mean in bold."
    ]
    for number, title, rows in TABLES:
        if any(m in result.methods for m in rows):
            parts.append(table_markdown(result, rows, "rank1", f"### Table {number}: {title}"))
    every = list(result.methods)
    parts.append(table_markdown(result, every, "mAP", "### mAP (%) of every method"))
    src = [(m, s.source_rank1) for m, s in result.methods.items() if s.source_rank1 is not None]
    if src:
        lines = [
            f"| {DISPLAY_NAMES.get(m, m)} | {100 * v:.1f} | "
            f"{100 * result.methods[m].avg_rank1[0]:.1f} |"
            for m, v in src
        ]
        parts.append(
            "### Seen vs unseen domains (rank-1 %)\n\n| method | held-out ids of the sources | "
            "unseen targets (avg) |\n|---|---|---|\n" + "\n".join(lines)
        )
    return "\n\n".join(parts) + "\n"


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
        paper_protocol=sorted(targets) == sorted(TARGETS),
    )
    write_outputs(result)
    return result


def write_outputs(result: CompareResult) -> None:
    out = result.out_dir
    md = tables_markdown(result)
    atomic_write_text(out / "tables.md", md)
    atomic_write_json(
        out / "tables.json",
        {
            "targets": result.targets,
            "units": "fraction",
            "methods": {
                m: {
                    "runs": [str(p) for p in s.run_dirs],
                    "rank1": {t: {"mean": v[0], "std": v[1]} for t, v in s.rank1.items()},
                    "mAP": {t: {"mean": v[0], "std": v[1]} for t, v in s.mAP.items()},
                    "avg_rank1": {"mean": s.avg_rank1[0], "std": s.avg_rank1[1]},
                    "avg_mAP": {"mean": s.avg_mAP[0], "std": s.avg_mAP[1]},
                    "source_rank1": s.source_rank1,
                    "cmc": s.cmc,
                }
                for m, s in result.methods.items()
            },
        },
    )
    result.files = {"markdown": out / "tables.md", "json": out / "tables.json"}
    for t in result.targets:
        curves = {DISPLAY_NAMES.get(m, m): s.cmc[t] for m, s in result.methods.items()}
        result.files[f"cmc_{t}"] = plot_cmc(out / f"cmc_{t}.png", curves, f"CMC on {t}")
