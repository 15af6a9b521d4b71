"""The learning-rate schedule: multi-step decay by epoch with an optional linear warm-up.

A pure function of the iteration, so a resumed run needs no scheduler object to restore.
"""

from __future__ import annotations

from collections.abc import Sequence


def lr_at(
    step: int,
    base_lr: float,
    iters_per_epoch: int,
    lr_steps: Sequence[int],
    gamma: float,
    warmup_iters: int = 0,
) -> float:
    """LR of iteration ``step`` (0-based): ``base_lr * gamma ** (#milestones passed)``.

    ``lr_steps`` are epochs (the paper: x0.1 at epoch 100); during the first ``warmup_iters``
    iterations the rate rises linearly from ``base_lr / warmup_iters`` to the scheduled value.
    """
    epoch = step // max(iters_per_epoch, 1)
    lr = base_lr * gamma ** sum(1 for m in lr_steps if epoch >= m)
    if warmup_iters > 0 and step < warmup_iters:
        lr *= (step + 1) / warmup_iters
    return lr
