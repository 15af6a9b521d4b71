"""torchvision ResNet-18/50 as backbones: everything up to global average pooling."""

from __future__ import annotations

import torch
from torchvision.models import resnet18, resnet50
from torchvision.models.resnet import ResNet

from dgreid.errors import DgreidError
from dgreid.models.backbone import BACKBONES, Backbone


class TorchvisionResNet(Backbone):
    """A torchvision ResNet with its ImageNet classifier removed (``fc`` keys are ignored)."""

    ignored_keys = ("fc.",)

    def __init__(self, net: ResNet, out_features: int, files: tuple[str, ...]) -> None:
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
        )
        self.out_features = out_features
        self.pretrained_files = files

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3))


def _check_width(name: str, width_mult: float) -> None:
    if width_mult != 1.0:
        raise DgreidError(f"backbone {name} has a fixed width; model.width_mult must be 1.0")


@BACKBONES.register("resnet50")
def build_resnet50(width_mult: float = 1.0) -> Backbone:
    """ResNet-50, 2048-d output (the paper's F_i and baseline)."""
    _check_width("resnet50", width_mult)
    files = ("resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth")
    return TorchvisionResNet(resnet50(weights=None), 2048, files)


@BACKBONES.register("resnet18")
def build_resnet18(width_mult: float = 1.0) -> Backbone:
    """ResNet-18, 512-d output."""
    _check_width("resnet18", width_mult)
    return TorchvisionResNet(resnet18(weights=None), 512, ("resnet18-f37072fd.pth",))
