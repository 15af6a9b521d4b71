"""The one safe way this toolkit reads a ``torch.save`` file: ``weights_only`` loading, with
errors that name the file and never advise loading it unsafely."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from dgreid.errors import CheckpointError


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
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = [ln.strip() for ln in str(e).splitlines() if "GLOBAL" in ln]
        raise CheckpointError(
            f"{path}: refused to load: the file holds objects other than tensors and plain "
            f"values (a pickle that could run code, or not a dgreid {what}); nothing in it "
            f"was executed. {found[0] if found else ''}".rstrip()
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointError(
            f"{path}: cannot read {what} (truncated or corrupt file?): "
            f"{e.__class__.__name__}: {_first_line(e)}"
        ) from None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A ``state_dict`` read with :func:`safe_torch_load`; anything else is a CheckpointError."""
    state = safe_torch_load(path, "state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state_dict, got {type(state).__name__}")
    return state


__all__ = ["read_state_dict", "safe_torch_load"]
