"""The training run's JSONL metrics log: one JSON object per line (loss terms, lr, speed,
evaluations). Not to be confused with :mod:`dgreid.evaluation.metrics` (CMC, mAP)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from dgreid.utils.io import atomic_write_text


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no nan/inf
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class MetricsWriter:
    """Appends records to ``path``; writes nothing when ``enabled`` is false (ranks > 0)."""

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(_plain(record)) + "\n")

    def truncate_after(self, step: int) -> None:
        """On resume: drop records past ``step`` (and any torn last line) of a killed run."""
        if not self.enabled or not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and int(rec.get("step", 0)) <= step:
                kept.append(line)
        atomic_write_text(self.path, "".join(k + "\n" for k in kept))


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """All records of a metrics log (for tests, reports and plots)."""
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


class LossWindow:
    """The loss terms summed since the last log line, and the training speed over them."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.steps = 0
        self.t0 = time.perf_counter()

    def add(self, out: dict[str, torch.Tensor]) -> None:
        for key, value in out.items():
            self.sums[key] = self.sums.get(key, 0.0) + value.detach().float()
        self.steps += 1

    def means(self) -> dict[str, float]:
        """The mean of each term since the last flush (nothing is reset)."""
        return {k: float(v) / max(self.steps, 1) for k, v in self.sums.items()}

    def flush(self, batch_size: int) -> tuple[dict[str, float], float]:
        """The mean of each term and the images per second since the last flush; then reset."""
        elapsed = time.perf_counter() - self.t0
        images_per_s = self.steps * batch_size / max(elapsed, 1e-9)
        means = self.means()
        self.sums, self.steps, self.t0 = {}, 0, time.perf_counter()
        return means, images_per_s
