"""Training: Keras training with recorded runs, live events, and background jobs (core, no Jupyter)."""

from .listeners import JsonLinesWriter, ListenerFanout, TextProgress, TrainingListener
from .register import register_trained
from .runs import DIVERGED, FAILED, FINISHED, INTERRUPTED, RUNNING, RunStore
from .trainer import TrainingResult, train

__all__ = [
    "train",
    "TrainingResult",
    "register_trained",
    "RunStore",
    "TrainingListener",
    "ListenerFanout",
    "JsonLinesWriter",
    "TextProgress",
    "RUNNING",
    "FINISHED",
    "INTERRUPTED",
    "FAILED",
    "DIVERGED",
]
