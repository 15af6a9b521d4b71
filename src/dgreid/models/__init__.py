"""Networks: backbones behind one registry (:func:`build_backbone`) and small heads."""

from dgreid.models import dualnorm, mobilenet, resnet, small, small_dualnorm  # noqa: F401  (register)
from dgreid.models.backbone import BACKBONES, Backbone, build_backbone
from dgreid.models.heads import DomainClassifier, Embedding, grad_reverse
from dgreid.models.ibn import IBN_NORMS  # registers <plain>_ibn

__all__ = [
    "BACKBONES",
    "Backbone",
    "DomainClassifier",
    "Embedding",
    "IBN_NORMS",
    "build_backbone",
    "grad_reverse",
]
