"""One rule turns a device name into a ``torch.device``: training, evaluation, deployment."""

from __future__ import annotations

import os

import torch

from dgreid.errors import DgreidError, TrainingError


def _local_rank() -> int:
    """This process's GPU on its node: ``LOCAL_RANK`` under torchrun, else 0."""
    value = os.environ.get("LOCAL_RANK", "")
    try:
        return int(value) if value else 0
    except ValueError:
        raise DgreidError(f"environment variable LOCAL_RANK={value!r} is not an integer") from None


def resolve_device(
    device: str | torch.device,
    *,
    setting: str | None = None,
    error: type[DgreidError] = DgreidError,
) -> torch.device:
    """``auto`` -> this process's CUDA device when CUDA is available, else the CPU; ``cuda`` ->
    this process's CUDA device (``cuda:LOCAL_RANK`` under torchrun, ``cuda:0`` otherwise);
    ``cpu`` and ``cuda:N`` as given.

    A name torch does not know, or a CUDA device this machine lacks, raises ``error`` (a
    :class:`~dgreid.errors.DgreidError`, never a RuntimeError from deep inside torch) whose
    message starts with ``setting`` (default ``device 'NAME'``; the trainer says
    ``train.device='NAME'``).
    """
    what = setting or f"device {str(device)!r}"
    name = str(device)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{_local_rank()}"
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError, ValueError) as e:  # torch's message lists 20 device types
        raise error(f"{what}: expected auto, cpu, cuda or cuda:N") from e
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        raise error(f"{what}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return dev


def resolve_train_device(device: str) -> torch.device:
    """:func:`resolve_device` for the ``train.device`` setting: errors are TrainingErrors."""
    return resolve_device(device, setting=f"train.device={device!r}", error=TrainingError)


__all__ = ["resolve_device", "resolve_train_device"]
