"""What the trainer is told: the loop and optimiser (:class:`TrainSettings`) and how a run is
named and checked on resume (:class:`RunLabels`).

Both are plain frozen values with no knowledge of config files; ``dgreid train`` builds them from
the run config in one place (:mod:`dgreid.experiments.settings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from dgreid.errors import TrainingError

#: ``amp`` -> the autocast dtype (``None``: full precision).
AMP_DTYPES: dict[str, torch.dtype | None] = {
    "none": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


#: Values of ``train.optimizer``.
OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class TrainSettings:
    """The training loop and its optimiser (``optimizer``: one of :data:`OPTIMIZERS`).

    ``batch_size`` is the global batch (P*K images per iteration over all processes);
    ``iters_per_epoch=0`` means ``len(images) // batch_size``; ``lr_steps`` are epochs at which
    the rate is multiplied by ``gamma``; ``warmup_iters`` ramps the rate up linearly;
    ``backbone_lr_mult`` scales the method's ``backbone`` rate (fine-tuning); ``max_iters > 0``
    stops after that many iterations in all; ``eval_every`` runs the trainer's ``eval_fn`` every
    that many epochs (0: only at the end). ``device`` is auto | cpu | cuda | cuda:N, ``amp`` one of
    :data:`AMP_DTYPES`.
    """

    epochs: int = 10
    iters_per_epoch: int = 0
    batch_size: int = 32
    lr: float = 0.01
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_steps: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_iters: int = 0
    backbone_lr_mult: float = 1.0
    seed: int = 0
    device: str = "auto"
    amp: str = "none"
    channels_last: bool = False
    sync_bn: bool = False
    log_every: int = 10
    max_iters: int = 0
    eval_every: int = 0

    def __post_init__(self) -> None:
        if self.amp not in AMP_DTYPES:
            raise TrainingError(f"train.amp={self.amp!r}; expected one of {', '.join(AMP_DTYPES)}")
        if self.optimizer not in OPTIMIZERS:
            raise TrainingError(
                f"train.optimizer={self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}"
            )
        if self.batch_size < 1:
            raise TrainingError(f"batch size {self.batch_size}: expected at least 1")
        object.__setattr__(self, "lr_steps", tuple(self.lr_steps))

    def iterations_per_epoch(self, num_images: int) -> int:
        """``iters_per_epoch``, or (when 0) one pass over ``num_images`` images."""
        return self.iters_per_epoch or max(num_images // self.batch_size, 1)

    def total_iterations(self, num_images: int) -> int:
        """All iterations of the run: ``epochs`` epochs, capped by ``max_iters`` when set."""
        total = self.epochs * self.iterations_per_epoch(num_images)
        return min(total, self.max_iters) if self.max_iters > 0 else total


@dataclass(frozen=True)
class RunLabels:
    """How a training run is named and checked.

    ``name`` prefixes log lines and errors; ``method`` is the registered method name recorded in
    the checkpoint ("" = the method's ``name`` attribute, else its class name); ``config`` is the
    resolved run config recorded in the checkpoint, and a resume whose config differs from it
    (less :data:`~dgreid.engine.checkpoint.RESUME_FREE_KEYS`) is refused; ``resume_hint`` is the
    command an interruption message tells the user to run.
    """

    name: str = "train"
    method: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)
    resume_hint: str = "the same command with --resume"


__all__ = ["AMP_DTYPES", "RunLabels", "TrainSettings"]
