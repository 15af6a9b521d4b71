"""DualNorm (Jia et al. 2019) as the paper re-runs it: the baseline on the DualNorm network."""

from __future__ import annotations

from dgreid.errors import TrainingError
from dgreid.methods.baseline import BaselineMethod, BaselineSettings
from dgreid.methods.registry import register_method

#: Networks with DualNorm's IN/BN placement: the paper's, and its CPU-sized counterpart.
DUALNORM_BACKBONES = ("mobilenetv2_dualnorm", "convnet_dualnorm")


@register_method("dualnorm", BaselineSettings)
class DualNormMethod(BaselineMethod):
    """A DualNorm network + label-smoothed id cross-entropy."""

    def __init__(
        self,
        *,
        num_classes: int,
        backbone: str = "mobilenetv2_dualnorm",
        pretrained: str = "none",
        width_mult: float = 1.0,
        label_smooth: float = 0.1,
        bnneck: bool = False,
        feature_tri: float = 0.0,
        margin: float = 0.3,
    ) -> None:
        if backbone not in DUALNORM_BACKBONES:
            raise TrainingError(
                f"method dualnorm needs a DualNorm network (model.backbone one of "
                f"{', '.join(DUALNORM_BACKBONES)}), got {backbone!r}"
            )
        super().__init__(
            num_classes=num_classes,
            backbone=backbone,
            pretrained=pretrained,
            width_mult=width_mult,
            label_smooth=label_smooth,
            bnneck=bnneck,
            feature_tri=feature_tri,
            margin=margin,
        )
