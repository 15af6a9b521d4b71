"""The training run's JSONL metrics log: one JSON object per line (loss terms, lr, speed,
evaluations), optionally mirrored as TensorBoard scalars. Not to be confused with
:mod:`dgreid.evaluation.metrics` (CMC, mAP)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from dgreid.errors import TrainingError
from dgreid.utils.io import atomic_write_text

#: The fields of a log line that are not loss terms (every other number is one).
NOT_LOSSES = frozenset({"step", "epoch", "lr", "images_per_s", "elapsed_s", "eval", "gpu_mem_gib"})

#: The folder, beside ``metrics.jsonl``, of the TensorBoard event files (``train.tensorboard``).
TENSORBOARD_DIR = "tensorboard"


def loss_terms(record: dict[str, Any]) -> dict[str, float]:
    """The loss terms of a log line (``{}`` for an evaluation line)."""
    return {
        k: float(v)
        for k, v in record.items()
        if k not in NOT_LOSSES and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def require_tensorboard() -> type:
    """TensorBoard's ``SummaryWriter``; a :class:`TrainingError` saying how to install the
    package when it is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise TrainingError(
            f"train.tensorboard=true needs the tensorboard package ({err}); install it with "
            "pip install 'dgreid[tensorboard]' (or pip install tensorboard), or set "
            "train.tensorboard=false"
        ) from None
    return SummaryWriter  # type: ignore[no-any-return]


def _scalars(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """A log line's numbers as TensorBoard tags: ``loss/<term>``, ``train/lr``,
    ``train/images_per_s``, ``eval/<target or average>/<metric>``."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(_scalars(value, f"{prefix}{key}/"))
        elif key in ("step", "epoch", "elapsed_s") and not prefix:
            continue
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            group = prefix or ("train/" if key in NOT_LOSSES else "loss/")
            out[group + key] = float(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no nan/inf
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class MetricsWriter:
    """Appends records to ``path``, each with ``elapsed_s`` (seconds since the run started,
    summed over resumes); with ``tensorboard``, also every number of a record as a TensorBoard
    scalar in :data:`TENSORBOARD_DIR` beside it (:func:`require_tensorboard` fails at once when
    the package is missing). Writes nothing when ``enabled`` is false (ranks > 0). Close it
    (``with`` block) to flush the event files."""

    def __init__(self, path: Path, enabled: bool = True, tensorboard: bool = False) -> None:
        self.path = path
        self.enabled = enabled
        self._summary_cls = require_tensorboard() if tensorboard and enabled else None
        self._summary: Any = None
        self._purge_step: int | None = None
        self._t0, self._elapsed_before = time.perf_counter(), 0.0

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        elapsed = self._elapsed_before + time.perf_counter() - self._t0
        record = {**record, "elapsed_s": round(elapsed, 2)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(_plain(record)) + "\n")
        if self._summary_cls is not None:
            if self._summary is None:  # opened on the first line: ranks > 0 never create one
                self._summary = self._summary_cls(
                    log_dir=str(self.path.parent / TENSORBOARD_DIR), purge_step=self._purge_step
                )
            for tag, value in _scalars(record).items():
                self._summary.add_scalar(tag, value, int(record["step"]))

    def truncate_after(self, step: int) -> None:
        """On resume: drop records past ``step`` (and any torn last line) of a killed run; the
        clock goes on from the last kept record, TensorBoard hides its events past ``step``."""
        if not self.enabled or not self.path.is_file():
            return
        kept = []
        for line, rec in _lines(self.path):
            if int(rec.get("step", 0)) <= step:
                kept.append(line)
                self._elapsed_before = float(rec.get("elapsed_s", self._elapsed_before))
        atomic_write_text(self.path, "".join(k + "\n" for k in kept))
        self._t0, self._purge_step = time.perf_counter(), step + 1

    def close(self) -> None:
        if self._summary is not None:
            self._summary.close()
            self._summary = None

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _lines(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each line of a metrics log with its record; a line that is not a JSON object (the torn
    last line of a killed run) is left out."""
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            yield line, rec


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """All records of a metrics log (for tests, reports and plots), torn lines left out."""
    return [rec for _, rec in _lines(path)]


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
