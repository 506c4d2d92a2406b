"""gluon-dl: the deep-learning course in Apache MXNet Gluon, with edge deployment.

Submodules load on first use, so ``import gluon_dl`` has no side effects and
``gluon_dl.errors`` / ``gluon_dl.utils`` work without MXNet installed.

What's here
-----------
The course's models, data and training loop:

- ``get_model``, ``list_models``, ``get_config``, ``ModelConfig``: the model zoo
  (:mod:`gluon_dl.models`); data sets in :mod:`gluon_dl.data`, losses in
  :mod:`gluon_dl.losses`.
- ``fit`` (with Keras-style callbacks, :mod:`gluon_dl.training`),
  ``evaluate_accuracy``, ``evaluate_loss``.

The course's helpers, under the names the book uses:

- ``Timer``, ``Accumulator``: a stopwatch and running sums (:mod:`gluon_dl.utils.timing`).
- ``Animator`` and ``AnimatorCallback`` (live training curves, in a notebook or
  a PNG), ``plot_history``, ``show_images``, ``show_heatmaps``
  (:mod:`gluon_dl.plot`).
- ``try_gpu``, ``try_all_gpus``: a GPU when there is one, else the CPU
  (:mod:`gluon_dl.devices`).
- ``predict_lm`` (text generation), ``predict_seq2seq`` (translation with
  attention weights), ``evaluate_loss`` (:mod:`gluon_dl.inference`).
- ``bleu``, ``corpus_bleu``: the translation score (:mod:`gluon_dl.metrics`).
- ``grid_search``, ``random_search``, ``format_table``: hyperparameter search
  over the arguments of ``fit`` (:mod:`gluon_dl.training.search`).

Each is ``gluon_dl.<name>``, e.g. ``gluon_dl.Timer()``; the name is resolved
(and its module imported) on first use.
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = ("data", "devices", "errors", "inference", "losses", "metrics", "models", "plot",
               "training", "utils")
_EXPORTS = {
    "get_model": "models",
    "list_models": "models",
    "get_config": "models",
    "ModelConfig": "models",
    "fit": "training",
    "evaluate_accuracy": "training",
    "Timer": "utils.timing",
    "Accumulator": "utils.timing",
    "Animator": "plot",
    "AnimatorCallback": "plot",
    "plot_history": "plot",
    "show_images": "plot",
    "show_heatmaps": "plot",
    "try_gpu": "devices",
    "try_all_gpus": "devices",
    "evaluate_loss": "inference",
    "predict_lm": "inference",
    "predict_seq2seq": "inference",
    "bleu": "metrics",
    "corpus_bleu": "metrics",
    "grid_search": "training.search",
    "random_search": "training.search",
    "format_table": "training.search",
}

__all__ = list(_SUBMODULES) + list(_EXPORTS)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'gluon_dl' has no attribute '{name}'")


def __dir__():
    return sorted(list(globals()) + __all__)
