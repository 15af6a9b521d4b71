"""Plots as PNG files (matplotlib, headless): CMC curves, and a run's training curves."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dgreid.engine.metrics_log import loss_terms
from dgreid.utils.io import atomic_write_bytes


def _pyplot() -> Any:
    """``matplotlib.pyplot`` on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_png(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` as a PNG, atomically, and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    _pyplot().close(fig)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


def plot_cmc(
    path: str | Path,
    curves: Mapping[str, Sequence[float]],
    title: str,
    max_rank: int = 20,
) -> Path:
    """Plot one CMC curve per method (values in [0, 1], index 0 = rank-1) and save a PNG."""
    fig, ax = _pyplot().subplots(figsize=(4.2, 3.2), dpi=100)
    ranks = np.arange(1, max_rank + 1)
    for name, cmc in curves.items():
        values = np.asarray(cmc, dtype=float)[:max_rank] * 100.0
        ax.plot(ranks[: len(values)], values, marker="o", markersize=2.5, label=name)
    ax.set_xlabel("rank")
    ax.set_ylabel("matching rate (%)")
    ax.set_title(title)
    ax.set_ylim(0, 100)
    ax.set_xlim(1, max_rank)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save_png(fig, path)


def training_series(records: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list, list]]:
    """The curves of a metrics log (:mod:`dgreid.engine.metrics_log` records): name ->
    (iterations, values) for every loss term, then ``lr``, then ``target rank-1 (%)`` when the
    run evaluated during training. Empty when nothing was logged."""
    series: dict[str, tuple[list, list]] = {}

    def add(name: str, step: int, value: float) -> None:
        steps, values = series.setdefault(name, ([], []))
        steps.append(step)
        values.append(value)

    for rec in records:
        for name, value in loss_terms(dict(rec)).items():
            add(name, int(rec["step"]), value)
    for rec in records:
        if isinstance(rec.get("lr"), (int, float)):
            add("lr", int(rec["step"]), float(rec["lr"]))
    for rec in records:
        evaluation = rec.get("eval")
        average = evaluation.get("average", {}) if isinstance(evaluation, dict) else {}
        if isinstance(average.get("rank1"), (int, float)):
            add("target rank-1 (%)", int(rec["step"]), 100 * float(average["rank1"]))
    return series


def plot_training_curves(
    path: str | Path, records: Sequence[Mapping[str, Any]], title: str = ""
) -> Path | None:
    """One small panel per loss term, one for the learning rate (and one for the targets'
    rank-1 when the run evaluated during training), against iterations; saved as a PNG.
    Nothing is written, and None returned, when ``records`` hold no curve."""
    series = training_series(records)
    if not series:
        return None
    from matplotlib.ticker import MaxNLocator

    cols = min(len(series), 3)
    rows = -(-len(series) // cols)
    fig, axes = _pyplot().subplots(
        rows, cols, figsize=(3.3 * cols, 2.5 * rows), dpi=100, squeeze=False
    )
    for ax, (name, (steps, values)) in zip(axes.flat, series.items()):
        ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=2.5,
                color="tab:orange" if name == "lr" else "tab:blue")  # fmt: skip
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("iteration", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(series) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save_png(fig, path)
