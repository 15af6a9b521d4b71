"""The one backbone interface, its registry, and local-only ImageNet weight loading.

Contract of :data:`BACKBONES`: a name maps to a factory ``(width_mult: float) -> Backbone`` that
builds the architecture with random weights and does no I/O. :func:`build_backbone` is the only
entry point: it calls the factory, then loads weights according to ``pretrained``:

- ``"none"``: random initialisation.
- ``"imagenet"``: ImageNet weights from the places :mod:`dgreid.models.imagenet` searches (the
  torchvision files in the torch hub cache, then a weight file shipped in an installed package);
  none found -> CheckpointError naming every place looked at. Nothing is ever downloaded.
- ``"auto"``: the same search; when nothing is found the network trains from scratch and a
  warning naming every place looked at says so once per backbone name.
- any other string: a path to a ``state_dict`` file in the backbone's own (torchvision) key
  layout (missing or mismatched -> CheckpointError, and nothing is half loaded).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from dgreid.errors import CheckpointError
from dgreid.models.imagenet import PackagedWeights, find_imagenet_weights
from dgreid.registry import Registry
from dgreid.utils.torch_file import read_state_dict

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
    packaged_weights: tuple[PackagedWeights, ...] = ()

    #: whether the network ends in its own BatchNorm1d over the pooled feature (DualNorm's
    #: feature normalisation): then ``forward(x) == finish(pooled(x))`` and that norm can be a
    #: method's BNNeck
    has_feature_bn: bool = False

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled feature before the network's own feature BatchNorm, if it has one."""
        return self.forward_features(x)

    def finish(self, pooled: torch.Tensor) -> torch.Tensor:
        """What ``forward`` applies after :meth:`pooled` (the identity unless
        ``has_feature_bn``)."""
        return pooled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)

    def new_bnneck(self) -> nn.BatchNorm1d | None:
        """A BNNeck for this network's feature: a new BatchNorm1d over ``out_features``, or
        None when the network's own feature BatchNorm already is one (``has_feature_bn``)."""
        return None if self.has_feature_bn else nn.BatchNorm1d(self.out_features)

    def load_imagenet(self, state: dict[str, torch.Tensor], source: str) -> None:
        """Load ImageNet weights; keys under ``ignored_keys`` are dropped, others must match.

        Everything is checked before anything is copied: a file that does not fit raises
        :class:`CheckpointError` and leaves the network as it was.
        """
        state = {k: v for k, v in state.items() if not k.startswith(self.ignored_keys)}
        own = self.state_dict()
        unexpected = [k for k in state if k not in own]
        missing = self.required_missing([k for k in own if k not in state])
        wrong = [
            f"{k} {tuple(v.shape)} (expected {tuple(own[k].shape)})"
            for k, v in state.items()
            if k in own and (not isinstance(v, torch.Tensor) or v.shape != own[k].shape)
        ]
        if unexpected or missing or wrong:
            raise CheckpointError(
                f"{source}: weights do not fit backbone {type(self).__name__}: "
                f"missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shape {wrong[:5]}"
            )
        self.load_state_dict(state, strict=False)

    def load_start(self, state: dict[str, torch.Tensor], source: str) -> None:
        """Start from another trained network of this architecture (the episodic methods' F
        from the stage-0 network), checked as :meth:`load_imagenet` checks a file."""
        self.load_imagenet(state, source)

    def required_missing(self, missing: list[str]) -> list[str]:
        """Keys a checkpoint must provide; backbones with extra layers override this."""
        return missing

    #: the registered name of the plain network whose layers this one is built on (a DualNorm
    #: network's BatchNorm-only twin), or None: see :meth:`plain_state`
    plain_twin: str | None = None

    def plain_state(self) -> dict[str, torch.Tensor]:
        """This network's weights in the key layout of :attr:`plain_twin`: every convolution
        and norm scale and shift, with fresh running statistics where an InstanceNorm stands in
        for the twin's BatchNorm; the added InstanceNorms and feature BatchNorm are left out.
        The episodic methods' extractors F_i start from it (the stage-0 network is F's)."""
        raise NotImplementedError(f"{type(self).__name__} has no plain twin")


def fresh_running_stats(prefix: str, channels: int) -> dict[str, torch.Tensor]:
    """A new BatchNorm's running statistics under ``prefix`` (mean 0, variance 1)."""
    return {
        f"{prefix}.running_mean": torch.zeros(channels),
        f"{prefix}.running_var": torch.ones(channels),
        f"{prefix}.num_batches_tracked": torch.tensor(0, dtype=torch.long),
    }


BackboneFactory = Callable[[float], Backbone]
BACKBONES: Registry[BackboneFactory] = Registry("backbone")
_warned_scratch: set[str] = set()


def build_backbone(name: str, pretrained: str = "none", *, width_mult: float = 1.0) -> Backbone:
    """Build backbone ``name`` (see :data:`BACKBONES`) and load weights per ``pretrained``."""
    net = BACKBONES.get(name)(width_mult)
    if pretrained == "none":
        return net
    if pretrained in ("auto", "imagenet"):
        search = find_imagenet_weights(net.pretrained_files, net.packaged_weights)
        if search.state is None:
            if pretrained == "imagenet":
                raise CheckpointError(
                    f"model.pretrained=imagenet: no ImageNet weights for backbone {name}; "
                    f"looked at: {_places(net, search.looked)} (nothing is downloaded; use "
                    "model.pretrained=auto to train from scratch instead)"
                )
            _warn_scratch_once(name, net, search.looked)
            return net
        if width_mult != 1.0:
            raise CheckpointError(
                f"backbone {name}: ImageNet weights exist for width 1.0 only; "
                f"model.width_mult={width_mult} (use model.pretrained=none)"
            )
        net.load_imagenet(search.state, search.source)
        log.info("backbone %s: ImageNet weights from %s", name, search.source)
        return net
    path = Path(pretrained)
    if not path.is_file():
        raise CheckpointError(
            f"model.pretrained: {path} is not a file (expected a state_dict .pth, "
            "'imagenet', 'auto' or 'none')"
        )
    net.load_imagenet(read_state_dict(path), str(path))
    log.info("backbone %s: loaded weights from %s", name, path)
    return net


def _places(net: Backbone, looked: list[str]) -> str:
    return "; ".join(looked) if looked else "nowhere (no ImageNet weights exist for it)"


def _warn_scratch_once(name: str, net: Backbone, looked: list[str]) -> None:
    if name in _warned_scratch:
        return
    _warned_scratch.add(name)
    if looked:
        msg = (
            f"backbone {name}: no ImageNet weights found (looked at: {_places(net, looked)}); "
            "training from scratch (nothing is downloaded)"
        )
    else:
        msg = f"backbone {name}: no ImageNet weights exist for it; training from scratch"
    log.warning(msg)


def pretrained_source(name: str, pretrained: str) -> str | None:
    """Where ``build_backbone(name, pretrained)`` would take its initial weights from (a file
    path), or None when the network would start from a random initialisation."""
    if pretrained == "none":
        return None
    if pretrained in ("auto", "imagenet"):
        net = BACKBONES.get(name)(1.0)
        return find_imagenet_weights(net.pretrained_files, net.packaged_weights).source or None
    return pretrained
