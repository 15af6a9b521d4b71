"""Engine: the trainer loop, its settings and data stream, checkpoints, DDP helpers, signal
handling, the metrics log."""

from dgreid.engine.checkpoint_file import (
    load_checkpoint,
    load_model_weights,
    load_state_dict_checked,
    save_checkpoint,
    save_model,
)
from dgreid.engine.settings import RunLabels, TrainSettings
from dgreid.engine.signals import TrainingInterrupted
from dgreid.engine.stream import ImageStream
from dgreid.engine.trainer import Trainer, TrainSummary

__all__ = [
    "ImageStream",
    "RunLabels",
    "TrainSettings",
    "Trainer",
    "TrainSummary",
    "TrainingInterrupted",
    "load_checkpoint",
    "load_model_weights",
    "load_state_dict_checked",
    "save_checkpoint",
    "save_model",
]
