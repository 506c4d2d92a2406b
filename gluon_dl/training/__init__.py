"""Training: ``fit`` and its callbacks."""
from .callbacks import Callback, CallbackList, History, ProgressBar, TerminateOnNaN
from .loop import FitState, evaluate_accuracy, fit, predict

__all__ = ["Callback", "CallbackList", "FitState", "History", "ProgressBar", "TerminateOnNaN",
           "evaluate_accuracy", "fit", "predict"]
