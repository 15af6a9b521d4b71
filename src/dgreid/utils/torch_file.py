"""The one safe way this toolkit reads a ``torch.save`` file: ``weights_only`` loading, with
errors that name the file and never advise loading it unsafely."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from dgreid.errors import CheckpointError

#: How a ``torch.save`` file opens: a zip archive, or (the legacy format) a pickle, protocol 2+.
_HEADERS = (b"PK\x03\x04", b"\x80")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else ""


def safe_torch_load(
    path: str | Path, what: str = "torch file", map_location: str | torch.device = "cpu"
) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain values only.

    A pickle that carries code is refused and nothing in it runs; a truncated or corrupt file is
    a :class:`~dgreid.errors.CheckpointError` that names ``path`` and says what was expected
    (``what``: "checkpoint", "model file", "state_dict", ...).
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's advice to load unsafely is never shown
            return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: file not found") from None
    except Exception as e:
        raise CheckpointError(_load_failure(path, what, e)) from None


def _load_failure(path: Path, what: str, e: Exception) -> str:
    """Why ``torch.load`` of ``path`` failed, judged first by the file's opening bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        head = None
    if head == b"":
        return f"{path}: cannot read {what}: empty file (0 bytes)"
    if head is not None and not head.startswith(_HEADERS):
        return f"{path}: not a PyTorch {what} (no zip/pickle header); is this the right file?"
    if isinstance(e, pickle.UnpicklingError):
        found = [ln.strip() for ln in str(e).splitlines() if "GLOBAL" in ln]
        return (
            f"{path}: refused to load: the file holds objects other than tensors and plain "
            f"values (a pickle that could run code, or not a dgreid {what}); nothing in it "
            f"was executed. {found[0] if found else ''}"
        ).rstrip()
    return (
        f"{path}: cannot read {what} (truncated or corrupt file?): "
        f"{e.__class__.__name__}: {_first_line(e)}"
    )


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A ``state_dict`` read with :func:`safe_torch_load`; anything else is a CheckpointError."""
    state = safe_torch_load(path, "state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state_dict, got {type(state).__name__}")
    return state


__all__ = ["read_state_dict", "safe_torch_load"]
