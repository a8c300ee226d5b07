"""Training: one trainer for every model, schedules, and run directories."""

from .arguments import TrainingArguments
from .schedules import lr_multiplier
from .trainer import Trainer, TrainingDiverged, TrainResult

__all__ = ["Trainer", "TrainingArguments", "TrainingDiverged", "TrainResult", "lr_multiplier"]
