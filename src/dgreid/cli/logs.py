"""Logging set-up at the CLI edge: INFO lines from the toolkit to stderr, once."""

from __future__ import annotations

import logging
import os


def setup_logging(verbose: bool = False) -> None:
    root = logging.getLogger("dgreid")
    if any(getattr(h, "_dgreid", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    rank = os.environ.get("RANK")
    prefix = f"[rank {rank}] " if rank not in (None, "0") else ""
    handler.setFormatter(logging.Formatter(f"{prefix}%(levelname).1s %(name)s: %(message)s"))
    handler._dgreid = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if rank not in (None, "0"):
        root.setLevel(logging.WARNING)  # only rank 0 talks
