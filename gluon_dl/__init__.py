"""gluon-dl: the deep-learning course in Apache MXNet Gluon, with edge deployment.

Submodules load on first use, so ``import gluon_dl`` has no side effects and
``gluon_dl.errors`` / ``gluon_dl.utils`` work without MXNet installed.
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = ("data", "errors", "losses", "models", "training", "utils")
_EXPORTS = {
    "get_model": "models",
    "list_models": "models",
    "get_config": "models",
    "ModelConfig": "models",
    "fit": "training",
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
