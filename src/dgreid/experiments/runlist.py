"""The runs under a folder, side by side (``dgreid runs DIR``): what each run is (method, seed,
the config keys that differ between them), how far it got and what it scored.

Everything is read from the run folders (:mod:`dgreid.experiments.rundir`): ``config.yaml`` in
the current layout, ``metrics.jsonl`` (iterations, training time) and ``results.json``. A run
that stopped early or was never evaluated is listed with what it has; a folder whose config
cannot be read is listed by name with the reason.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dgreid.config.loader import read_saved_config
from dgreid.engine.checkpoint_file import RESUME_FREE_KEYS, flatten_config
from dgreid.engine.metrics_log import read_metrics
from dgreid.errors import DgreidError
from dgreid.experiments.rundir import CONFIG_NAME, RESULTS_NAME, is_run_folder

#: Keys never compared: their own columns (method, seed), and those that do not change what a
#: run computes (where it lives, how it is watched, how fast it goes).
NOT_COMPARED = RESUME_FREE_KEYS | {"method.name", "train.seed"}


@dataclass
class RunInfo:
    """One run folder as read: ``config`` (dotted keys, current layout) is None when the
    config could not be read (``problem`` says why); ``scores`` maps a target (and
    ``average``) to its mean (rank-1, mAP) as fractions."""

    name: str
    status: str
    config: dict[str, Any] | None = None
    problem: str = ""
    iterations: int | None = None
    seconds: float | None = None
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return str(self.config.get("method.name", "")) if self.config else ""

    @property
    def seed(self) -> str:
        return str(self.config.get("train.seed", "")) if self.config else ""


@dataclass
class RunsTable:
    """The runs, the config keys whose values differ between them, and every target scored."""

    runs: list[RunInfo]
    keys: list[str]
    targets: list[str]


def find_run_folders(root: Path) -> list[Path]:
    """Every run folder under ``root`` (``root`` included), sorted; a run folder's own
    sub-folders (checkpoints, stage 1 networks) are not searched."""
    found = []
    for folder, subdirs, _ in os.walk(root):
        if is_run_folder(Path(folder)):
            found.append(Path(folder))
            subdirs.clear()
        subdirs.sort()
    return sorted(found)


def _read_config(path: Path) -> dict[str, Any]:
    """A saved config as dotted keys in the current layout."""
    return flatten_config(read_saved_config(path))


def _read_scores(path: Path) -> dict[str, tuple[float, float]]:
    """Each target's (and the average's) mean rank-1 and mAP from a ``results.json``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    scores = {
        name: (float(t["mean"]["rank1"]), float(t["mean"]["mAP"]))
        for name, t in data["targets"].items()
    }
    scores["average"] = (float(data["average"]["rank1"]), float(data["average"]["mAP"]))
    return scores


def read_run(folder: Path, root: Path) -> RunInfo:
    """What ``folder`` says about its run (never raises for a damaged folder: the status and
    ``problem`` say what could not be read)."""
    name = folder.relative_to(root).as_posix()
    info = RunInfo(name=name, status="")
    try:
        info.config = _read_config(folder / CONFIG_NAME)
    except ValueError as err:  # a ConfigError, which names the file
        info.status, info.problem = "unreadable config", str(err)
    log_path = folder / "metrics.jsonl"
    if log_path.is_file():
        records = read_metrics(log_path)
        steps = [int(r["step"]) for r in records if isinstance(r.get("step"), int)]
        times = [float(r["elapsed_s"]) for r in records if "elapsed_s" in r]
        info.iterations = max(steps, default=0)
        info.seconds = times[-1] if times else None
    results = folder / RESULTS_NAME
    if results.is_file():
        try:
            info.scores = _read_scores(results)
        except (OSError, ValueError, KeyError, TypeError) as err:
            info.status = info.status or "unreadable results"
            info.problem = info.problem or f"{results}: {type(err).__name__}: {err}"
    if not info.status:
        if info.scores:
            info.status = "done"
        elif (folder / "model.pt").is_file():
            info.status = "no results (model saved)"
        else:
            info.status = "no results (unfinished)"
    return info


def differing_keys(runs: list[RunInfo]) -> list[str]:
    """The config keys (less :data:`NOT_COMPARED`) that at least two runs hold with different
    values. A key only some methods have is not one, unless those runs differ in it: the method
    column already tells them apart."""
    values: dict[str, set[str]] = {}
    for run in runs:
        for key, value in (run.config or {}).items():
            if key not in NOT_COMPARED:
                values.setdefault(key, set()).add(json.dumps(value, sort_keys=True))
    return sorted(k for k, seen in values.items() if len(seen) > 1)


def runs_table(root: str | Path) -> RunsTable:
    """Every run under ``root``, read; a DgreidError when ``root`` is no folder or holds none."""
    root = Path(root)
    if not root.is_dir():
        raise DgreidError(f"{root}: no such folder")
    folders = find_run_folders(root)
    if not folders:
        raise DgreidError(
            f"no run folders under {root} (a run folder holds {CONFIG_NAME} beside train.log, "
            "checkpoints/ or model.pt)"
        )
    runs = [read_run(f, root) for f in folders]
    targets = list(dict.fromkeys(t for r in runs for t in r.scores if t != "average"))
    return RunsTable(runs, differing_keys(runs), targets)
