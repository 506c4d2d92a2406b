"""Magnitude and channel pruning of Gluon networks, with serializable schedules.

Schedules are pure Python and import eagerly; the MXNet-backed pruners
(``MagnitudePruner``, ``prune_channels``) and the layer registry load on
first use, so ``deploy.prune.get_schedule`` works without MXNet installed.
"""
import importlib

from .schedules import (ConstantSparsity, OneShot, PolynomialDecay, PruningSchedule,
                        get_schedule, list_schedules, register_schedule)

_LAZY = {
    "MagnitudePruner": "magnitude",
    "prune_to_sparsity": "magnitude",
    "PRUNABLE_WEIGHTS": "registry",
    "prunable_parameters": "registry",
    "named_prunable_parameters": "registry",
    "prunable_weight_names": "registry",
    "PruningCallback": "callback",
    "prune_channels": "structured",
    "ChannelPrunedNet": "structured",
    "ChannelPruningReport": "_channel_report",
    "channel_sparsity_steps": "gradual",
    "prune_channels_gradually": "gradual",
}

__all__ = ["ConstantSparsity", "OneShot", "PolynomialDecay", "PruningSchedule",
           "get_schedule", "list_schedules", "register_schedule"] + list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")


def __dir__():
    return sorted(list(globals()) + __all__)
