"""Training: ``fit``, its callbacks and resumable checkpoints."""
from .callbacks import (Callback, CallbackList, CSVLogger, EarlyStopping, GradientClipping,
                        History, LearningRateScheduler, ModelCheckpoint, Monitor, ProgressBar,
                        TerminateOnNaN, latest_checkpoint, list_checkpoints)
from .checkpoint import load_checkpoint, save_checkpoint
from .loop import FitState, as_contexts, evaluate_accuracy, fit, predict, validate
from .tensorboard import TensorBoard, read_scalars

__all__ = ["CSVLogger", "Callback", "CallbackList", "EarlyStopping", "FitState",
           "GradientClipping", "History", "LearningRateScheduler", "ModelCheckpoint", "Monitor",
           "ProgressBar", "TerminateOnNaN", "as_contexts", "evaluate_accuracy", "fit",
           "latest_checkpoint", "list_checkpoints", "load_checkpoint", "predict",
           "read_scalars", "save_checkpoint", "TensorBoard", "validate"]
