"""A comparison's results (:class:`CompareResult`) and its tables: the paper's Tables III-V in
Markdown, the demo's HTML table and terminal table, the verdict sentences, and the JSON record.

Every function renders a result it is given; training and evaluating happen in
:mod:`dgreid.experiments.compare`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dgreid.experiments.published import DISPLAY_NAMES, PAPER_RANK1, TABLES, TARGETS

#: (mean, std) of fractions over splits x seeds; std None: a single value, which has no spread
#: (one seed of a target evaluated once on its own query/gallery)
MeanStd = tuple[float, float | None]


@dataclass
class MethodSummary:
    """One method over all its seeds: per target, rank-1 and mAP over splits x seeds."""

    name: str
    run_dirs: list[Path]
    rank1: dict[str, MeanStd] = field(default_factory=dict)  # target -> mean, std
    mAP: dict[str, MeanStd] = field(default_factory=dict)
    cmc: dict[str, list[float]] = field(default_factory=dict)  # target -> mean CMC
    avg_rank1: MeanStd = (0.0, 0.0)
    avg_mAP: MeanStd = (0.0, 0.0)
    source_rank1: float | None = None  # mean rank-1 on held-out source ids, when measured


@dataclass
class CompareResult:
    """All methods, the targets in table order, and where the outputs went."""

    methods: dict[str, MethodSummary]
    targets: list[str]
    out_dir: Path
    paper_protocol: bool
    files: dict[str, Path] = field(default_factory=dict)


def display_name(method: str) -> str:
    """The name a table shows for ``method`` (the paper's, e.g. "Ours"), else ``method``."""
    return DISPLAY_NAMES.get(method, method)


def mean_std_percent(ms: MeanStd) -> str:
    """``(mean, std)`` of fractions as percent: ``(0.123, 0.01)`` -> ``"12.3 ± 1.0"``; a single
    value (std None) is its mean alone, ``"12.3"``, never a made-up ``± 0.0``."""
    return f"{100 * ms[0]:.1f}" if ms[1] is None else f"{100 * ms[0]:.1f} ± {100 * ms[1]:.1f}"


def spread_text(ms: MeanStd) -> str:
    """The spread of ``ms`` in words: ``"± 1.0"``, or that there is none (a single value)."""
    return "none, one evaluation" if ms[1] is None else f"± {100 * ms[1]:.1f}"


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

    def value(m: str, col: str) -> MeanStd:
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
        lines.append(f"| {display_name(m)} | {' | '.join(cells)} |")
        if result.paper_protocol and m in PAPER_RANK1 and metric == "rank1":
            pub = [f"{PAPER_RANK1[m][t]:.1f}" for t in (*TARGETS, "avg")]
            lines.append(f"| _{display_name(m)} (paper)_ | {' | '.join(pub)} |")
    return "\n".join(lines)


def tables_markdown(result: CompareResult) -> str:
    """Tables III, IV and V of the paper (rows that were run), then all methods with mAP."""
    parts = [
        "Rank-1 (%) on unseen target domains, mean ± std over splits and seeds; best mean in "
        "bold. A value without ± is a single evaluation (one seed on the target's own "
        "query/gallery)."
    ]
    for number, title, rows in TABLES:
        if any(m in result.methods for m in rows):
            parts.append(table_markdown(result, rows, "rank1", f"### Table {number}: {title}"))
    every = list(result.methods)
    parts.append(table_markdown(result, every, "mAP", "### mAP (%) of every method"))
    src = [(m, s.source_rank1) for m, s in result.methods.items() if s.source_rank1 is not None]
    if src:
        lines = [
            f"| {display_name(m)} | {100 * v:.1f} | {100 * result.methods[m].avg_rank1[0]:.1f} |"
            for m, v in src
        ]
        parts.append(
            "### Seen vs unseen domains (rank-1 %)\n\n| method | held-out ids of the sources | "
            "unseen targets (avg) |\n|---|---|---|\n" + "\n".join(lines)
        )
    return "\n\n".join(parts) + "\n"


def tables_json(result: CompareResult) -> dict[str, Any]:
    """The numbers behind the tables (fractions), with each method's run folders and CMC."""
    return {
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
    }


def results_table_html(result: CompareResult) -> str:
    """Rank-1 and mAP per target and on average, mean ± std over splits; best in bold."""
    targets = [*result.targets, "average"]
    head = "".join(f"<th colspan=2>{html.escape(t.removeprefix('synth-'))}</th>" for t in targets)
    sub = "<th>rank-1</th><th>mAP</th>" * len(targets)

    def cells(m: str) -> list[tuple[float, str]]:
        s = result.methods[m]
        out = []
        for t in result.targets:
            out += [
                (s.rank1[t][0], mean_std_percent(s.rank1[t])),
                (s.mAP[t][0], mean_std_percent(s.mAP[t])),
            ]
        out += [
            (s.avg_rank1[0], mean_std_percent(s.avg_rank1)),
            (s.avg_mAP[0], mean_std_percent(s.avg_mAP)),
        ]
        return out

    table = {m: cells(m) for m in result.methods}
    best = [max(table[m][i][0] for m in table) for i in range(2 * len(targets))]
    rows = []
    for m, row in table.items():
        tds = "".join(
            f'<td class="best">{text}</td>' if v == best[i] else f"<td>{text}</td>"
            for i, (v, text) in enumerate(row)
        )
        rows.append(f"<tr><td>{html.escape(display_name(m))}</td>{tds}</tr>")
    return f"<table><tr><th rowspan=2>method</th>{head}</tr><tr>{sub}</tr>{''.join(rows)}</table>"


def text_table(result: CompareResult) -> str:
    """The terminal version: rank-1 / mAP per target and average; '*' marks the best average."""
    best = max(result.methods, key=lambda m: result.methods[m].avg_rank1[0])
    cols = [t.removeprefix("synth-") for t in result.targets] + ["average"]
    cells = {}
    for m, s in result.methods.items():
        vals = [mean_std_percent(s.rank1[t]) for t in result.targets]
        vals.append(mean_std_percent(s.avg_rank1))
        maps = [f"{100 * s.mAP[t][0]:.1f}" for t in result.targets] + [f"{100 * s.avg_mAP[0]:.1f}"]
        cells[m] = [f"{v} / {p}" for v, p in zip(vals, maps)]
    width = 2 + max(len(c) for c in [*cols, *(c for row in cells.values() for c in row)])
    lines = [
        "rank-1 / mAP (%), mean ± std over splits",
        f"{'method':<18}" + "".join(f"{c:>{width}}" for c in cols),
    ]
    for m, row in cells.items():
        mark = "*" if m == best else " "
        lines.append(f"{mark}{display_name(m):<17}" + "".join(f"{c:>{width}}" for c in row))
    lines.append("* best average rank-1")
    return "\n".join(lines)


def verdict_lines(result: CompareResult) -> list[str]:
    """Plain sentences: did the episodic method beat each other method, and by how much."""
    mine = result.methods.get("episodic")
    if mine is None:
        return []
    lines = []
    for name, other in result.methods.items():
        if name == "episodic":
            continue
        diff = 100 * (mine.avg_rank1[0] - other.avg_rank1[0])
        how = (
            f"beat {display_name(name)} by {diff:.1f}"
            if diff > 0
            else f"trailed {display_name(name)} by {-diff:.1f}"
        )
        lines.append(
            f"In this run the episodic method {how} points of average rank-1 (spread over "
            f"splits: {spread_text(mine.avg_rank1)} for it, {spread_text(other.avg_rank1)} "
            "for the other)."
        )
    return lines


__all__ = [
    "CompareResult",
    "MeanStd",
    "MethodSummary",
    "display_name",
    "mean_std_percent",
    "results_table_html",
    "spread_text",
    "table_markdown",
    "tables_json",
    "tables_markdown",
    "text_table",
    "verdict_lines",
]
