"""dgreid: domain-generalized person re-identification."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # keep ``import dgreid`` light: torch is imported only by ``load``
    from pathlib import Path

    from dgreid.deploy.api import ReIDModel

__version__ = "0.1.0"


def load(path: str | Path, device: str = "auto", flip: bool | None = None) -> ReIDModel:
    """Load a trained model (run folder, model file or exported .onnx) as a ``ReIDModel``;
    ``flip`` overrides whether it averages each feature with its mirror image's (by default as
    its run was evaluated)."""
    from dgreid.deploy.api import load as _load

    return _load(path, device, flip)
