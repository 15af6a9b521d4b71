"""Logging set-up at the CLI edge: INFO lines from the toolkit to stderr, once."""

from __future__ import annotations

import logging
import os
import sys
from typing import IO


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at each record, not the one of the first call (a
    redirected or captured stderr that was closed since must not break later log lines)."""

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass


def setup_logging(verbose: bool = False) -> None:
    root = logging.getLogger("dgreid")
    if any(getattr(h, "_dgreid", False) for h in root.handlers):
        return
    handler = _StderrHandler()
    rank = os.environ.get("RANK")
    prefix = f"[rank {rank}] " if rank not in (None, "0") else ""
    handler.setFormatter(logging.Formatter(f"{prefix}%(levelname).1s %(name)s: %(message)s"))
    handler._dgreid = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if rank not in (None, "0"):
        root.setLevel(logging.WARNING)  # only rank 0 talks
