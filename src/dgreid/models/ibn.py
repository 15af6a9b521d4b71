"""IBN-a variants of the plain backbones (Pan et al., "Two at Once: Enhancing Learning and
Generalization Capacities via IBN-Net", ECCV 2018): in the early stages, the first norm of every
block instance-normalises half of its channels and batch-normalises the other half.

``<name>_ibn`` is backbone ``<name>`` with those norms replaced by :class:`InstanceBatchNorm2d`.
That norm keeps a BatchNorm2d's parameters and buffers over all channels (the instance half uses
the same affine weight and bias, its running statistics are unused), so the variant's state dict
has exactly the plain network's keys and shapes: ImageNet weights, a stage-0 start and saved
checkpoints load into it unchanged. Where the norms sit (``IBN_NORMS``), following the paper's
layer1-layer3 of four:

- ResNet-18/50: ``bn1`` of every block of ``layer1``-``layer3``;
- MobileNetV2: the first BatchNorm of every inverted-residual block of the 16- to 96-channel
  stages (the blocks after which the DualNorm network puts its InstanceNorms);
- convnet_small: the BatchNorms of its first three of four stages;
- resnet_tiny: the first BatchNorm of its first three of four blocks.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from dgreid.models.backbone import BACKBONES, Backbone
from dgreid.models.dualnorm import instance_norm_block_indices


class InstanceBatchNorm2d(nn.BatchNorm2d):
    """A BatchNorm2d whose first ``instance_channels`` channels are instance-normalised (with
    the same per-channel weight and bias) and whose other channels are batch-normalised."""

    def __init__(self, num_features: int, instance_channels: int | None = None, **kw: object):
        super().__init__(num_features, **kw)  # type: ignore[arg-type]
        half = num_features // 2 if instance_channels is None else instance_channels
        if not 0 < half < num_features:
            raise ValueError(f"instance_channels must be in 1..{num_features - 1}, got {half}")
        self.instance_channels = half

    @classmethod
    def from_batchnorm(cls, bn: nn.BatchNorm2d) -> InstanceBatchNorm2d:
        """The IBN norm with ``bn``'s settings, parameters and buffers."""
        out = cls(bn.num_features, eps=bn.eps, momentum=bn.momentum, affine=bn.affine)
        out.load_state_dict(bn.state_dict())
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.instance_channels
        w = self.weight if self.affine else None
        b = self.bias if self.affine else None
        inst = F.instance_norm(
            x[:, :h],
            weight=None if w is None else w[:h],
            bias=None if b is None else b[:h],
            eps=self.eps,
        )
        use_batch_stats = self.training or self.running_mean is None
        momentum = self.momentum
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if momentum is None:  # a cumulative average, as BatchNorm2d keeps one
                momentum = 1.0 / float(self.num_batches_tracked)
        batch = F.batch_norm(
            x[:, h:],
            None if self.running_mean is None else self.running_mean[h:],
            None if self.running_var is None else self.running_var[h:],
            weight=None if w is None else w[h:],
            bias=None if b is None else b[h:],
            training=use_batch_stats,
            momentum=0.0 if momentum is None else momentum,
            eps=self.eps,
        )
        return torch.cat([inst, batch], dim=1)


def _first_batchnorm(net: nn.Module, block: str) -> str:
    mod = net.get_submodule(block)
    for name, m in mod.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            return f"{block}.{name}"
    raise ValueError(f"{block} has no BatchNorm2d")


def _resnet_norms(net: nn.Module) -> list[str]:
    return [
        f"layer{i}.{j}.bn1"
        for i in (1, 2, 3)
        for j, _ in enumerate(net.get_submodule(f"layer{i}").children())
    ]


def _mobilenet_norms(net: nn.Module) -> list[str]:
    return [_first_batchnorm(net, f"features.{i}") for i in instance_norm_block_indices()]


#: plain backbone -> the names of the BatchNorm2d modules its IBN-a variant replaces
IBN_NORMS: dict[str, Callable[[nn.Module], list[str]]] = {
    "resnet18": _resnet_norms,
    "resnet50": _resnet_norms,
    "mobilenetv2": _mobilenet_norms,
    "convnet_small": lambda net: [f"body.{i}.1" for i in range(3)],
    "resnet_tiny": lambda net: [f"blocks.{i}.conv1.1" for i in range(3)],
}


def to_ibn(net: nn.Module, names: list[str]) -> nn.Module:
    """Replace the BatchNorm2d modules ``names`` of ``net`` by IBN norms (in place)."""
    for name in names:
        bn = net.get_submodule(name)
        if not isinstance(bn, nn.BatchNorm2d):
            raise ValueError(f"{name} is a {type(bn).__name__}, not a BatchNorm2d")
        parent, _, leaf = name.rpartition(".")
        setattr(net.get_submodule(parent), leaf, InstanceBatchNorm2d.from_batchnorm(bn))
    return net


def _ibn_factory(plain: str) -> Callable[[float], Backbone]:
    def build(width_mult: float = 1.0) -> Backbone:
        net = BACKBONES.get(plain)(width_mult)
        to_ibn(net, IBN_NORMS[plain](net))
        return net

    build.__doc__ = f"{plain} with IBN-a norms in its early stages (docs/methods.md)."
    return build


for _plain in IBN_NORMS:
    BACKBONES.register(f"{_plain}_ibn")(_ibn_factory(_plain))
