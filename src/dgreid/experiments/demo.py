"""``dgreid demo``: the synthetic benchmark, three methods, the DG protocol, one report.

The demo is the comparison of ``configs/synthetic/compare.yaml`` (see
:mod:`dgreid.experiments.compare`) restricted to three methods; it reads that file (shipped with
the package, :mod:`dgreid.experiments.presets`), so its settings are those of
``configs/synthetic/`` by construction.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from dgreid.data.synth import DomainSpec, ensure_benchmark
from dgreid.deploy.ranked_html import RankedMatch, RankedQuery
from dgreid.evaluation.splits import load_splits
from dgreid.experiments.compare import run_compare
from dgreid.experiments.presets import shipped_configs
from dgreid.experiments.spec import CompareSpec, load_spec
from dgreid.report.html import write_demo_report
from dgreid.report.tables import CompareResult
from dgreid.utils.io import atomic_write_text

log = logging.getLogger(__name__)

#: The methods the demo compares, each as configs/synthetic/compare.yaml defines it.
METHODS = ("baseline", "dualnorm", "episodic")
#: The quick demo's budget (tests and a first look); the full demo trains with the budget of
#: configs/synthetic/base.yaml.
QUICK = [
    "train.max_iters=30",
    "train.epochs=1",
    "train.lr_steps=[1]",
    "method.stage1_epochs=1",
    "method.stage0_epochs=1",
    "train.iters_per_epoch=30",
    "train.log_every=10",
]


@dataclass
class DemoSettings:
    """Where the demo writes and how big it is."""

    out_dir: Path
    quick: bool = False
    seed: int = 0
    #: a smaller benchmark than the default (tests): domain specs, scale and crop size
    domains: list[DomainSpec] | None = None
    scale: float | None = None
    size: tuple[int, int] | None = None
    #: run overrides applied after the budget (tests: crop size, splits, iterations)
    overrides: list[str] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.out_dir / ("data-quick" if self.quick else "data")

    @property
    def runs_dir(self) -> Path:
        return self.out_dir / ("quick" if self.quick else "full")

    @property
    def report_path(self) -> Path:
        """``OUT/report.html``; the quick demo's in its own folder, ``OUT/quick/report.html``,
        so that it never replaces a full demo's report."""
        return (self.runs_dir if self.quick else self.out_dir) / "report.html"


def demo_spec(s: DemoSettings) -> CompareSpec:
    """configs/synthetic/compare.yaml (its shared base.yaml and per-method overrides) for
    :data:`METHODS`, one seed, with the demo's output folder and quick budget."""
    shipped = load_spec(shipped_configs("synthetic") / "compare.yaml")
    return dataclasses.replace(
        shipped,
        output_dir=str(s.runs_dir),
        seeds=[s.seed],
        methods={name: shipped.methods[name] for name in METHODS},
        quick=list(QUICK),
    )


def demo_overrides(s: DemoSettings) -> list[str]:
    """What the demo changes in every run: where its data is, then the caller's overrides."""
    return [f"data.root={s.data_dir}", *s.overrides]


def render_data(s: DemoSettings) -> None:
    """The default benchmark (full demo) or a smaller, lower-resolution one (quick)."""
    scale, size = (0.25, (64, 32)) if s.quick else (1.0, (128, 64))
    ensure_benchmark(
        s.data_dir, seed=s.seed, scale=s.scale or scale, size=s.size or size, domains=s.domains
    )


def ranked_examples(
    result: CompareResult, method: str, per_target: int = 3, topk: int = 8
) -> dict[str, list[RankedQuery]]:
    """A few probes of each target's first split, ranked by ``method``'s model: the top
    ``topk``, and the first true match with its rank wherever it is in the gallery."""
    from dgreid.deploy.api import load
    from dgreid.evaluation.distance import topk_search

    run = result.methods[method].run_dirs[0]
    model = load(run, device="cpu")
    splits = load_splits(result.out_dir / "splits.json")
    out: dict[str, list[RankedQuery]] = {}
    for target in result.targets:
        split = splits[target][0]
        queries = split.query[:per_target]
        qf = model.embed([r.path for r in queries])
        gf = model.embed([r.path for r in split.gallery])
        dist, idx = topk_search(qf, gf, len(split.gallery))  # the whole ranking
        out[target] = []
        for i, q in enumerate(queries):
            ranking = [
                RankedMatch(split.gallery[j].path, float(d), split.gallery[j].pid == q.pid)
                for d, j in zip(dist[i].tolist(), idx[i].tolist())
            ]
            first = next(((r, m) for r, m in enumerate(ranking, 1) if m.is_match), None)
            out[target].append(
                RankedQuery(q.path, ranking[:topk], q.pid, q.camid, true_match=first)
            )
    return out


def run_demo(s: DemoSettings) -> tuple[CompareResult, Path]:
    """Render (or reuse) the data, train (or reuse) the three methods, evaluate, report."""
    t0 = time.perf_counter()
    render_data(s)
    result = run_compare(demo_spec(s), quick=s.quick, overrides=demo_overrides(s))
    ranked = {m: ranked_examples(result, m) for m in result.methods}
    report = write_demo_report(
        s.report_path,
        result,
        ranked,
        quick=s.quick,
        runs_dir=s.runs_dir,
        seconds=time.perf_counter() - t0,
    )
    atomic_write_text(
        s.runs_dir / "demo.json",
        json.dumps({"report": str(report), "seconds": time.perf_counter() - t0}) + "\n",
    )
    return result, report
