"""What a run's numbers depend on besides its config: the software and the arithmetic.

A seed fixes the splits, the synthetic data and the initial weights, but not the order in which
floating-point sums are taken: torch picks its CPU kernels by the instruction set it finds
(AVX2, AVX-512, ...), and an intra-op thread count splits reductions differently. Two runs that
differ only there drift apart after a few iterations (docs/training.md, "Reproducibility": 40
iterations of the synthetic Baseline moved per-target rank-1 by up to 4 points). So a run folder
records them in ``environment.json``, and a resumed run says when they changed.
"""

from __future__ import annotations

import json
import logging
import platform
from pathlib import Path
from typing import Any

import torch
import torchvision

from dgreid.utils.io import atomic_write_json

log = logging.getLogger(__name__)

ENVIRONMENT_NAME = "environment.json"


def numeric_environment(device: torch.device, threads: int) -> dict[str, Any]:
    """The facts that decide a run's floating-point results, beyond its config."""
    env: dict[str, Any] = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": threads,
        "device": device.type,
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["cuda"] = torch.version.cuda
    return env


def environment_changes(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """``key: saved -> now`` for every key whose value differs (a key on one side only counts)."""
    return [
        f"{key}: {saved.get(key, '(none)')} -> {now.get(key, '(none)')}"
        for key in sorted(set(saved) | set(now))
        if saved.get(key) != now.get(key)
    ]


def record_environment(out_dir: Path, env: dict[str, Any], resume: bool) -> None:
    """Write ``environment.json`` for a new run; on resume, keep the first and warn on changes.

    A resumed run continues bit for bit only where these facts are the same; where they are not
    it still trains correctly, but its numbers are not the ones an uninterrupted run would give.
    """
    path = out_dir / ENVIRONMENT_NAME
    if resume and path.exists():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            saved = None
        if isinstance(saved, dict):
            changes = environment_changes(saved, env)
            if changes:
                log.warning(
                    "resuming under another numeric environment than %s (%s): training goes "
                    "on, but its numbers will not match an uninterrupted run",
                    path,
                    "; ".join(changes),
                )
            return
    atomic_write_json(path, env)
