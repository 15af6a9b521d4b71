"""Render the synthetic benchmark on first use, so a synthetic config runs from a clean clone."""

from __future__ import annotations

import logging
from pathlib import Path

from dgreid.data.synth import DOMAINS, ensure_benchmark
from dgreid.errors import DatasetError

log = logging.getLogger(__name__)

#: The benchmark a synthetic config gets when its data root is empty (the released default).
DEFAULT_SEED = 0


def ensure_synthetic_data(root: str | Path, names: list[str]) -> None:
    """If ``names`` are all synthetic domains and ``root`` lacks them, render the default
    benchmark there (said once in the log). Real datasets are never fetched."""
    synth = {d.name for d in DOMAINS}
    if not names or not all(n in synth for n in names):
        return
    root = Path(root)
    manifest = root / "synth.json"
    if manifest.exists():
        return
    if root.exists() and any(root.iterdir()):
        raise DatasetError(
            f"{root} holds files but no synth.json; render the synthetic benchmark into an "
            f"empty folder (dgreid synth --out DIR) and set data.root to it"
        )
    log.warning(
        "no synthetic benchmark under %s: rendering the default one (seed %d)", root, DEFAULT_SEED
    )
    ensure_benchmark(root, seed=DEFAULT_SEED)
