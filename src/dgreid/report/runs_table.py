"""The table of ``dgreid runs``: one row per run folder, as aligned text or as CSV (the same
rows and columns; the CSV keeps full target names and unrounded seconds). The runs are read by
:mod:`dgreid.experiments.runlist`."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from dgreid.experiments.runlist import RunInfo, RunsTable
from dgreid.utils.text import aligned

#: The leading columns: the run folder (relative to the folder searched), method, status, seed.
LEADING = ["run", "method", "status", "seed"]


def config_value(value: Any) -> str:
    """A config value as YAML writes it in flow style: ``true``, ``null``, ``[7, 9]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(config_value(v) for v in value) + "]"
    return str(value)


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _rows(
    table: RunsTable, percent: Callable[[float], str], time: Callable[[float], str], empty: str
) -> list[list[str]]:
    """One row of cells per run: ``percent`` formats a score (a fraction), ``time`` seconds;
    ``empty`` fills what a run does not have."""
    rows = []
    for run in table.runs:
        config = run.config or {}
        cells = [run.name, run.method or empty, run.status, run.seed or empty]
        cells += [config_value(config[k]) if k in config else empty for k in table.keys]
        cells.append(empty if run.iterations is None else str(run.iterations))
        cells.append(empty if run.seconds is None else time(run.seconds))
        for target in [*table.targets, "average"]:
            score = run.scores.get(target)
            cells += [percent(score[0]), percent(score[1])] if score else [empty, empty]
        rows.append(cells)
    return rows


def _score_header(table: RunsTable, short: bool) -> list[str]:
    header = []
    for target in [*table.targets, "average"]:
        name = target.removeprefix("synth-") if short else target
        header += [f"{name} r1", f"{name} mAP"] if short else [f"{name} rank1", f"{name} mAP"]
    return header


def runs_text(table: RunsTable) -> str:
    """The terminal table (scores in percent, one decimal), then one line per folder that could
    not be read fully."""
    header = [*LEADING, *table.keys, "iters", "time", *_score_header(table, short=True)]
    rows = _rows(table, lambda v: f"{100 * v:.1f}", duration, "-")
    lines = aligned([header, *rows], left=3)
    lines.insert(1, "-" * max(len(line) for line in lines))
    notes = problems(table.runs)
    lines += ["", "rank-1 / mAP in %, mean over the splits; time: the training loop's wall time"]
    return "\n".join([*lines, *notes])


def runs_csv(table: RunsTable) -> str:
    """The same rows as CSV: scores in percent (two decimals), ``train_seconds``, and empty
    cells for what a run does not have."""
    header = [*LEADING, *table.keys, "iterations", "train_seconds"]
    header += [f"{h} (%)" for h in _score_header(table, short=False)]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(_rows(table, lambda v: f"{100 * v:.2f}", lambda s: f"{s:.1f}", ""))
    return buf.getvalue()


def problems(runs: list[RunInfo]) -> list[str]:
    """What could not be read, one line per run folder."""
    return [run.problem for run in runs if run.problem]
