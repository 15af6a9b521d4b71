"""Networks: backbones behind one registry (:func:`build_backbone`) and small heads."""

from dgreid.models import dualnorm, mobilenet, resnet, small, small_dualnorm  # noqa: F401  (register)
from dgreid.models.backbone import BACKBONES, Backbone, build_backbone
from dgreid.models.heads import DomainClassifier, Embedding, grad_reverse

__all__ = [
    "BACKBONES",
    "Backbone",
    "DomainClassifier",
    "Embedding",
    "build_backbone",
    "grad_reverse",
]
