"""DualNorm (Jia et al. 2019) as the paper re-runs it: the baseline on the DualNorm network."""

from __future__ import annotations

from dgreid.methods.baseline import BaselineMethod
from dgreid.methods.registry import METHODS


@METHODS.register("dualnorm")
class DualNormMethod(BaselineMethod):
    """``mobilenetv2_dualnorm`` + label-smoothed id cross-entropy; the backbone is fixed."""

    def __init__(
        self,
        *,
        num_classes: int,
        pretrained: str = "none",
        width_mult: float = 1.0,
        label_smooth: float = 0.1,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            backbone="mobilenetv2_dualnorm",
            pretrained=pretrained,
            width_mult=width_mult,
            label_smooth=label_smooth,
        )
