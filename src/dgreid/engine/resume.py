"""A training run's ``checkpoints/last.pt``: what the trainer saves at every epoch end (and on a
stop), and what a resume must match.

The file (a ``train-state`` checkpoint, :mod:`dgreid.engine.checkpoint_file`) holds the model,
optimizer and scaler states, every rank's RNG state, the iteration, and two things a resume is
checked against: the sampler's settings (a different stream would make the rest of the run
differ) and the run config (:func:`~dgreid.engine.checkpoint_file.resume_diff`).

Each save first renames the checkpoint it replaces to ``last.prev.pt``: a ``last.pt`` that cannot
be read (a truncated copy, a damaged disk) is not the end of the run, a resume falls back to the
previous one and says so.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dgreid.config.loader import current_layout
from dgreid.engine import distributed as D
from dgreid.engine.checkpoint_file import (
    config_diff,
    load_checkpoint,
    load_state_dict_checked,
    resume_diff,
    save_checkpoint,
)
from dgreid.engine.optim import schedule_state
from dgreid.engine.rng import capture_rng, restore_rng
from dgreid.engine.settings import RunLabels, TrainSettings
from dgreid.errors import CheckpointError, TrainingError

log = logging.getLogger(__name__)

#: The optimizer and its gradient scaler, saved and restored together.
Optim = tuple[torch.optim.Optimizer, torch.amp.GradScaler]


class RunCheckpoint:
    """``out_dir/checkpoints/last.pt`` of the run ``labels`` names, trained with ``settings``;
    ``sampler_meta`` is what must not change between the run and its resume."""

    def __init__(
        self,
        out_dir: Path,
        labels: RunLabels,
        settings: TrainSettings,
        method_name: str,
        sampler_meta: dict[str, Any],
    ) -> None:
        self.path = out_dir / "checkpoints" / "last.pt"
        self.previous = self.path.with_name("last.prev.pt")
        self.labels, self.settings, self.method_name = labels, settings, method_name
        self.sampler_meta = sampler_meta
        self.iters_per_epoch = int(sampler_meta["iters_per_epoch"])

    def save(
        self, method: nn.Module, opt: Optim, step: int, info: D.DistInfo, device: torch.device
    ) -> None:
        """Write atomically on rank 0 (every rank's RNG state included); all ranks agree on
        failure and raise a TrainingError that says the previous checkpoint is intact."""
        rng = D.gather_objects(capture_rng())
        error = ""
        if info.is_main:
            kept = self.path.is_file()
            try:
                if kept:
                    os.replace(self.path, self.previous)  # atomic: one of the two is whole
                save_checkpoint(self.path, self._state(method, opt, step, info, rng))
            except OSError as e:  # disk full, read-only folder (a WriteError), ...
                error = str(e)
                if kept and self.previous.is_file():
                    os.replace(self.previous, self.path)  # the previous one stays last.pt
        (failed,) = D.any_flags([bool(error)], device)
        if failed:
            raise TrainingError(
                f"{self.labels.name}: {error or 'rank 0 could not write the checkpoint'} at "
                f"iteration {step}; the previous checkpoint (if any) is intact. Free space and "
                f"resume: {self.labels.resume_hint}"
            )
        D.barrier()

    def _state(
        self, method: nn.Module, opt: Optim, step: int, info: D.DistInfo, rng: list
    ) -> dict[str, Any]:
        return {
            "kind": "train-state",
            "method": self.method_name,
            "config": dict(self.labels.config),
            "model": method.state_dict(),
            "optimizer": opt[0].state_dict(),
            "scaler": opt[1].state_dict(),
            "scheduler": schedule_state(self.settings),
            "sampler": self.sampler_meta,
            "step": step,
            "epoch": step // self.iters_per_epoch,
            "batch_in_epoch": step % self.iters_per_epoch,
            "world_size": info.world_size,
            "rng": rng,
        }

    def exists(self) -> bool:
        """Whether the run saved a checkpoint (``last.pt``, or the previous one alone when the
        run was killed between the two renames)."""
        return self.path.is_file() or self.previous.is_file()

    def _read(self) -> tuple[Path, dict[str, Any]]:
        """``last.pt`` and its state; the previous checkpoint when ``last.pt`` is missing or
        cannot be read (the error names both when neither can)."""
        kind = {"expected_kind": "train-state", "expected_method": self.method_name}
        try:
            return self.path, load_checkpoint(self.path, **kind)
        except CheckpointError as e:
            if not self.previous.is_file():
                raise
            try:
                state = load_checkpoint(self.previous, **kind)
            except CheckpointError as e2:
                raise CheckpointError(f"{e}; the previous checkpoint too: {e2}") from None
            log.warning(
                "%s; resuming from the previous checkpoint %s (iteration %d)",
                e, self.previous, int(state["step"]),
            )  # fmt: skip
            return self.previous, state

    def load(self, method: nn.Module, opt: Optim, info: D.DistInfo) -> int:
        """Restore the saved states into ``method`` and ``opt`` and this rank's RNG; return the
        iteration to continue from. A sampler or config that differs is refused, listing keys."""
        path, state = self._read()
        diffs = config_diff(state.get("sampler", {}), self.sampler_meta)
        if self.labels.config and state.get("config"):
            saved = current_layout(state["config"], str(path))  # both in this version's layout
            diffs += resume_diff(
                saved, current_layout(dict(self.labels.config), "the run's config")
            )
        if diffs:
            raise TrainingError(
                f"{path}: cannot resume, the run's settings differ from the checkpoint's: "
                + "; ".join(diffs)
            )
        load_state_dict_checked(method, state["model"], str(path))
        opt[0].load_state_dict(state["optimizer"])
        opt[1].load_state_dict(state["scaler"])
        rngs = state["rng"]
        restore_rng(rngs[info.rank] if info.rank < len(rngs) else rngs[0])
        return int(state["step"])


__all__ = ["Optim", "RunCheckpoint"]
