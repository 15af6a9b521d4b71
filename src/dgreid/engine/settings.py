"""What the trainer is told: the loop and optimiser (:class:`TrainSettings`, the run config's
``train`` section plus three keys of other sections) and how a run is named and checked on resume
(:class:`RunLabels`).

Both are plain values with no knowledge of config files; ``dgreid train`` builds them from the run
config in one place (:mod:`dgreid.experiments.trainer_args`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import torch

from dgreid.config.schema import TrainConfig
from dgreid.errors import TrainingError

#: ``amp`` -> the autocast dtype (``None``: full precision).
AMP_DTYPES: dict[str, torch.dtype | None] = {
    "none": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


#: Values of ``train.optimizer``.
OPTIMIZERS = ("sgd", "adam")


@dataclass
class TrainSettings(TrainConfig):
    """The run config's ``train`` section (every key of :class:`~dgreid.config.TrainConfig`,
    read as it says there) plus the three keys of other sections the loop needs:
    ``batch_size`` (``data.batch_size``: the global batch, P*K images per iteration over all
    processes), ``channels_last`` and ``sync_bn`` (``model.*``).

    ``optimizer`` is one of :data:`OPTIMIZERS`, ``amp`` one of :data:`AMP_DTYPES`.
    """

    batch_size: int = 32
    channels_last: bool = False
    sync_bn: bool = False

    def __post_init__(self) -> None:
        if self.amp not in AMP_DTYPES:
            raise TrainingError(f"train.amp={self.amp!r}; expected one of {', '.join(AMP_DTYPES)}")
        if self.optimizer not in OPTIMIZERS:
            raise TrainingError(
                f"train.optimizer={self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}"
            )
        if self.batch_size < 1:
            raise TrainingError(f"batch size {self.batch_size}: expected at least 1")
        self.lr_steps = list(self.lr_steps)

    @classmethod
    def of(
        cls, train: TrainConfig, batch_size: int, channels_last: bool = False, sync_bn: bool = False
    ) -> TrainSettings:
        """``train``'s values (every field, copied by name) with the loop's other three."""
        keys = {f.name: getattr(train, f.name) for f in fields(TrainConfig)}
        return cls(**keys, batch_size=batch_size, channels_last=channels_last, sync_bn=sync_bn)

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
    (less :data:`~dgreid.engine.checkpoint_file.RESUME_FREE_KEYS`) is refused; ``resume_hint`` is
    the command an interruption message tells the user to run.
    """

    name: str = "train"
    method: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)
    resume_hint: str = "the same command with --resume"


__all__ = ["AMP_DTYPES", "RunLabels", "TrainSettings"]
