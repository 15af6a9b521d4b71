"""The one backbone interface, its registry, and local-only ImageNet weight loading.

Contract of :data:`BACKBONES`: a name maps to a factory ``(width_mult: float) -> Backbone`` that
builds the architecture with random weights and does no I/O. :func:`build_backbone` is the only
entry point: it calls the factory, then loads weights according to ``pretrained``:

- ``"none"``: random initialisation.
- ``"auto"``: the first standard torchvision file for that backbone found in
  ``torch.hub.get_dir()/checkpoints/``; when none is there the network trains from scratch and a
  warning says so once per backbone name. Nothing is ever downloaded.
- any other string: a path to a ``state_dict`` file (missing or mismatched -> CheckpointError).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from dgreid.errors import CheckpointError
from dgreid.registry import Registry

log = logging.getLogger(__name__)


class Backbone(nn.Module):
    """A feature extractor: images ``(B, 3, H, W)`` -> pooled features ``(B, out_features)``.

    Subclasses set ``out_features`` and implement ``forward_features``. ``pretrained_files``
    lists the torchvision checkpoint file names whose weights fit the network (empty when no
    ImageNet weights exist for it); ``ignored_keys`` are key prefixes of such a file the backbone
    does not have (the ImageNet classifier).
    """

    out_features: int
    pretrained_files: tuple[str, ...] = ()
    ignored_keys: tuple[str, ...] = ()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)

    def load_imagenet(self, state: dict[str, torch.Tensor], source: str) -> None:
        """Load ImageNet weights; keys under ``ignored_keys`` are dropped, others must match."""
        state = {k: v for k, v in state.items() if not k.startswith(self.ignored_keys)}
        result = self.load_state_dict(state, strict=False)
        if result.unexpected_keys or self.required_missing(result.missing_keys):
            raise CheckpointError(
                f"{source}: weights do not fit backbone {type(self).__name__}: "
                f"missing {self.required_missing(result.missing_keys)[:5]}, "
                f"unexpected {result.unexpected_keys[:5]}"
            )

    def required_missing(self, missing: list[str]) -> list[str]:
        """Keys a checkpoint must provide; backbones with extra layers override this."""
        return missing


BackboneFactory = Callable[[float], Backbone]
BACKBONES: Registry[BackboneFactory] = Registry("backbone")
_warned_scratch: set[str] = set()


def build_backbone(name: str, pretrained: str = "none", *, width_mult: float = 1.0) -> Backbone:
    """Build backbone ``name`` (see :data:`BACKBONES`) and load weights per ``pretrained``."""
    net = BACKBONES.get(name)(width_mult)
    if pretrained == "none":
        return net
    if pretrained == "auto":
        path = _find_cached(net.pretrained_files)
        if path is None:
            _warn_scratch_once(name, net.pretrained_files)
            return net
    else:
        path = Path(pretrained)
        if not path.is_file():
            raise CheckpointError(
                f"model.pretrained: {path} is not a file (expected a state_dict .pth, "
                "'auto' or 'none')"
            )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise CheckpointError(f"{path}: cannot read weights ({e})") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state_dict, got {type(state).__name__}")
    net.load_imagenet(state, str(path))
    log.info("backbone %s: loaded weights from %s", name, path)
    return net


def _find_cached(files: tuple[str, ...]) -> Path | None:
    ckpt_dir = Path(torch.hub.get_dir()) / "checkpoints"
    for fname in files:
        if (ckpt_dir / fname).is_file():
            return ckpt_dir / fname
    return None


def _warn_scratch_once(name: str, files: tuple[str, ...]) -> None:
    if name in _warned_scratch:
        return
    _warned_scratch.add(name)
    where = Path(torch.hub.get_dir()) / "checkpoints"
    if files:
        msg = (
            f"backbone {name}: no ImageNet weights ({' or '.join(files)}) in {where}; "
            "training from scratch (nothing is downloaded)"
        )
    else:
        msg = f"backbone {name}: no ImageNet weights exist for it; training from scratch"
    log.warning(msg)
