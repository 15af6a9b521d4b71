"""The optimiser (SGD or Adam) over a method's trainable parameters, the backbone at its own
rate."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dgreid.engine.lr import lr_at
from dgreid.engine.settings import TrainSettings
from dgreid.errors import TrainingError


def param_groups(method: nn.Module, backbone_lr_mult: float) -> list[dict[str, Any]]:
    """The trainable parameters as SGD groups, each with an ``lr_mult`` on the scheduled rate.

    The method's ``backbone`` (the network that may start from ImageNet weights) learns at
    ``backbone_lr_mult`` times the rate of everything else (new heads, projections, E, C).
    The parameters come from ``method.trainable_parameters()`` when defined (frozen
    sub-networks are left out), else from every parameter needing grad.
    """
    own = getattr(method, "trainable_parameters", None)
    params = list(own()) if callable(own) else [p for p in method.parameters() if p.requires_grad]
    if not params:
        raise TrainingError(f"{type(method).__name__} has no trainable parameters")
    backbone = getattr(method, "backbone", None)
    in_backbone = (
        {id(p) for p in backbone.parameters()} if isinstance(backbone, nn.Module) else set()
    )
    groups = [
        {"params": [p for p in params if id(p) in in_backbone], "lr_mult": backbone_lr_mult},
        {"params": [p for p in params if id(p) not in in_backbone], "lr_mult": 1.0},
    ]
    return [g for g in groups if g["params"]]


def build_optimizer(method: nn.Module, s: TrainSettings) -> torch.optim.Optimizer:
    """``s.optimizer`` over :func:`param_groups`: SGD with ``s.momentum``, or Adam; both with
    ``s.weight_decay``."""
    groups = param_groups(method, s.backbone_lr_mult)
    if s.optimizer == "adam":
        return torch.optim.Adam(groups, lr=s.lr, weight_decay=s.weight_decay)
    return torch.optim.SGD(groups, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)


def set_lr(optimizer: torch.optim.Optimizer, s: TrainSettings, step: int, iters: int) -> float:
    """Set every group's rate for iteration ``step``; return the scheduled (heads') rate."""
    lr = lr_at(step, s.lr, iters, list(s.lr_steps), s.gamma, s.warmup_iters)
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_mult"]
    return lr


def schedule_state(s: TrainSettings) -> dict[str, Any]:
    """The schedule as recorded in a checkpoint (for the reader; resume recomputes it)."""
    return {
        "optimizer": s.optimizer,
        "base_lr": s.lr,
        "lr_steps": list(s.lr_steps),
        "gamma": s.gamma,
        "warmup_iters": s.warmup_iters,
        "backbone_lr_mult": s.backbone_lr_mult,
    }
