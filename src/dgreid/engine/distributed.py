"""Distributed data parallel (DDP) helpers, launched by ``torchrun``.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`init_distributed` reads them
and joins the process group (nccl on CUDA, gloo on CPU). Without them everything here is a
one-process no-op, so the trainer has a single code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from dgreid.errors import TrainingError
from dgreid.structures import Batch


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``, GPU ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise TrainingError(f"environment variable {name}={value!r} is not an integer") from None


def init_distributed(device: torch.device) -> DistInfo:
    """Join the torchrun process group if there is one (idempotent)."""
    world_size = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if world_size <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """True on rank 0 (and in a one-process run): the only process that writes files."""
    return get_rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op in a one-process run)."""
    if is_distributed():
        dist.barrier()


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (a one-item list in a one-process run)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


class StepModule(nn.Module):
    """Routes ``forward`` to ``method.train_step`` so DDP's gradient hooks see the step.

    DDP synchronises gradients for the parameters used in its ``forward``; a method's training
    step is not its ``forward``, so DDP wraps this module instead. Parameters with
    ``requires_grad=False`` (frozen per-domain extractors) are not registered by DDP.
    """

    def __init__(self, method: nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        return self.method.train_step(batch, step)  # type: ignore[operator]


def wrap_for_training(
    method: nn.Module, device: torch.device, info: DistInfo, sync_bn: bool
) -> nn.Module:
    """The module the trainer calls each step: ``StepModule``, inside DDP when distributed."""
    if sync_bn:
        if device.type != "cuda":
            raise TrainingError(
                "model.sync_bn needs CUDA devices (SyncBatchNorm has no CPU kernel)"
            )
        if info.world_size > 1:
            _refuse_ibn_sync(method)
            nn.SyncBatchNorm.convert_sync_batchnorm(method)
    step_module = StepModule(method)
    if info.world_size <= 1:
        return step_module
    from torch.nn.parallel import DistributedDataParallel as DDP

    find_unused = bool(getattr(method, "find_unused_parameters", False))
    device_ids = [device.index if device.index is not None else info.local_rank]
    return DDP(
        step_module,
        device_ids=device_ids if device.type == "cuda" else None,
        find_unused_parameters=find_unused,
    )


def _refuse_ibn_sync(method: nn.Module) -> None:
    from dgreid.models.ibn import InstanceBatchNorm2d

    ibn = [n for n, m in method.named_modules() if isinstance(m, InstanceBatchNorm2d)]
    if ibn:
        raise TrainingError(
            f"model.sync_bn cannot convert the IBN norms of an *_ibn backbone ({ibn[0]}, ...): "
            "SyncBatchNorm would drop their instance-normalised half; train without sync_bn"
        )


def broadcast_buffers(module: nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics), the ones it saves.

    DDP copies rank 0's buffers to the others before each forward, so after the last step
    each rank still holds the update from its own half-batch (no-op in a one-process run)."""
    if not is_distributed():
        return
    for buf in module.buffers():
        dist.broadcast(buf, src=0)


def cleanup() -> None:
    """Leave the process group (call once at the end of a distributed run)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def any_flags(flags: list[bool], device: torch.device) -> list[bool]:
    """Element-wise OR of ``flags`` over all ranks, in one collective call."""
    if not is_distributed():
        return list(flags)
    t = torch.tensor([1.0 if f else 0.0 for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v > 0) for v in t.tolist()]
