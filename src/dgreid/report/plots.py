"""CMC curves as PNG files (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def plot_cmc(
    path: str | Path,
    curves: Mapping[str, Sequence[float]],
    title: str,
    max_rank: int = 20,
) -> Path:
    """Plot one CMC curve per method (values in [0, 1], index 0 = rank-1) and save a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dgreid.utils.io import atomic_write_bytes

    fig, ax = plt.subplots(figsize=(4.2, 3.2), dpi=100)
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
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path
