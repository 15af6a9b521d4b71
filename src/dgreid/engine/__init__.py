"""Engine: the trainer loop, checkpoints, DDP helpers, signal handling, metrics log."""

from dgreid.engine.checkpoint import (
    load_checkpoint,
    load_model_weights,
    load_state_dict_checked,
    save_checkpoint,
    save_model,
)
from dgreid.engine.signals import TrainingInterrupted
from dgreid.engine.trainer import Trainer, TrainSummary

__all__ = [
    "Trainer",
    "TrainSummary",
    "TrainingInterrupted",
    "load_checkpoint",
    "load_model_weights",
    "load_state_dict_checked",
    "save_checkpoint",
    "save_model",
]
