"""Pruning schedules: pure functions of the training step.

A schedule answers, for each step, whether the pruner should recompute its
masks now and to which sparsity.  Schedules are plain Python (no MXNet, no
numpy) so they are testable and serializable anywhere, modeled on TensorFlow
Model Optimization's ``pruning_schedule.py``.  Unlike TF-MOT, the config
round-trips: ``PruningSchedule.from_dict(s.to_dict()) == s`` for every
registered schedule, also through JSON.

Adding a schedule means one decorated class in this file:
``@register_schedule`` fills the registry that ``get_schedule`` and
``list_schedules`` read.
"""
import inspect
import math
import numbers

from gluon_dl.errors import ArgumentError, ArgumentTypeError
from gluon_dl.utils.registry import unknown_name

_SCHEDULES = {}


def _normalize(name):
    # "polynomial_decay", "PolynomialDecay" and "polynomial-decay" are one name.
    return name.replace("_", "").replace("-", "").lower()


def register_schedule(cls):
    """Class decorator that registers a :class:`PruningSchedule` by class name.

    Raises
    ------
    TypeError
        If ``cls`` is not a subclass of :class:`PruningSchedule`.
    ValueError
        If a schedule of the same (normalized) name is already registered.
    """
    if not (isinstance(cls, type) and issubclass(cls, PruningSchedule)):
        raise ArgumentTypeError(f"@register_schedule decorates PruningSchedule subclasses, got {cls!r}")
    key = _normalize(cls.__name__)
    if key in _SCHEDULES:
        raise ArgumentError(f"pruning schedule '{cls.__name__}' is registered twice "
                         f"({_SCHEDULES[key].__module__} and {cls.__module__})")
    _SCHEDULES[key] = cls
    return cls


def list_schedules():
    """Sorted class names of the registered pruning schedules."""
    return sorted(cls.__name__ for cls in _SCHEDULES.values())


def _lookup(name):
    if not isinstance(name, str):
        raise ArgumentTypeError(f"schedule name must be a str, got {type(name).__name__} {name!r}")
    cls = _SCHEDULES.get(_normalize(name))
    if cls is None:
        raise unknown_name("pruning schedule", name, list_schedules(),
                           f"registered: {', '.join(list_schedules())}", cutoff=0.4)
    return cls


def get_schedule(name, **config):
    """Build the registered schedule ``name`` with keyword arguments ``config``.

    Parameters
    ----------
    name : str
        Class name as listed by :func:`list_schedules`; case, ``_`` and
        ``-`` are ignored, so ``"polynomial_decay"`` works too.
    **config
        Constructor arguments of that schedule.

    Raises
    ------
    ValueError
        For an unknown name (the message lists close matches) or an unknown
        config key (the message lists the accepted ones).
    """
    return _lookup(name).from_config(config)


# ---------------------------------------------------------------- validators

def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ArgumentError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_sparsity(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a float in [0, 1), got {type(value).__name__} {value!r}")
    if not 0.0 <= value < 1.0:
        raise ArgumentError(f"{name} must lie in [0, 1), got {value}; "
                         f"a sparsity of 1 would zero the whole layer")
    return float(value)


def _check_end_step(end_step, begin_step, allow_forever):
    if allow_forever and end_step == -1 and isinstance(end_step, numbers.Integral):
        return -1
    end_step = _check_int("end_step", end_step, 0)
    if allow_forever and end_step < begin_step:
        raise ArgumentError(f"end_step must be >= begin_step={begin_step} (or -1 to prune "
                         f"forever), got {end_step}")
    if not allow_forever and end_step <= begin_step:
        raise ArgumentError(f"end_step must be > begin_step={begin_step} so the sparsity "
                         f"has steps to grow over, got {end_step}")
    return end_step


def _check_power(power):
    if isinstance(power, bool) or not isinstance(power, numbers.Real):
        raise ArgumentTypeError(f"power must be a positive number, got {type(power).__name__} {power!r}")
    if not (power > 0 and math.isfinite(power)):
        raise ArgumentError(f"power must be a positive finite number, got {power}")
    return power


def _check_step(step):
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise ArgumentTypeError(f"step must be an int, got {type(step).__name__} {step!r}")
    return int(step)


def _on_frequency(step, begin_step, end_step, frequency):
    """Whether ``step`` is a pruning step of a periodic schedule."""
    if step < begin_step or (end_step != -1 and step > end_step):
        return False
    return (step - begin_step) % frequency == 0 or step == end_step


# ------------------------------------------------------------------ schedules

class PruningSchedule:
    """Base class: ``schedule(step) -> (should_prune, sparsity)``.

    Subclasses implement :meth:`should_prune`, :meth:`sparsity_at` and
    :meth:`get_config` (the constructor's keyword arguments), and are
    registered with ``@register_schedule``.  Equality compares class and
    config, so a schedule rebuilt from :meth:`to_dict` equals the original.
    """

    def __call__(self, step):
        """Return ``(should_prune, sparsity)`` for the integer ``step``."""
        step = _check_step(step)
        return self.should_prune(step), self.sparsity_at(step)

    def should_prune(self, step):
        """Whether the masks are recomputed at ``step``."""
        raise NotImplementedError(f"{type(self).__name__} must implement should_prune(step)")

    def sparsity_at(self, step):
        """Target sparsity (fraction of zeros) at ``step``."""
        raise NotImplementedError(f"{type(self).__name__} must implement sparsity_at(step)")

    def get_config(self):
        """The constructor's keyword arguments as a dict."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_config()")

    def to_dict(self):
        """A JSON-ready ``{"class_name": ..., "config": {...}}``."""
        return {"class_name": type(self).__name__, "config": dict(self.get_config())}

    @classmethod
    def from_config(cls, config):
        """Build ``cls`` from :meth:`get_config` output; unknown keys are rejected."""
        accepted, required = _init_arg_names(cls)
        unknown = sorted(set(config) - accepted)
        missing = sorted(required - set(config))
        if unknown or missing:
            raise ArgumentError(f"{cls.__name__} config: unknown keys {unknown}, missing keys "
                             f"{missing}; accepted: {sorted(accepted)}")
        return cls(**config)

    @classmethod
    def from_dict(cls, d):
        """Rebuild a schedule from :meth:`to_dict` output.

        Called on the base class it builds whichever registered schedule
        ``d["class_name"]`` names; called on a subclass it also checks that
        the dict describes that subclass.

        Raises
        ------
        ValueError
            If ``d`` lacks ``class_name``/``config`` or names an unknown schedule.
        TypeError
            If the named schedule is not a ``cls``.
        """
        if not isinstance(d, dict) or set(d) != {"class_name", "config"}:
            raise ArgumentError(f"a schedule dict has exactly the keys 'class_name' and 'config' "
                             f"(as written by to_dict()), got {d!r}")
        target = _lookup(d["class_name"])
        if not issubclass(target, cls):
            raise ArgumentTypeError(f"{cls.__name__}.from_dict got a {target.__name__} dict; "
                            f"use PruningSchedule.from_dict to build any schedule")
        return target.from_config(d["config"])

    def __eq__(self, other):
        if not isinstance(other, PruningSchedule):
            return NotImplemented
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _init_arg_names(cls):
    """Names of all and of the required constructor arguments of ``cls``."""
    params = dict(inspect.signature(cls.__init__).parameters)
    params.pop("self", None)
    required = {n for n, p in params.items() if p.default is inspect.Parameter.empty}
    return set(params), required


@register_schedule
class ConstantSparsity(PruningSchedule):
    """Prune to one fixed sparsity every ``frequency`` steps.

    Parameters
    ----------
    target_sparsity : float
        Fraction of zeros, in [0, 1).
    begin_step : int
        First pruning step, >= 0.
    end_step : int
        Last pruning step (pruning also happens exactly there), >= begin_step;
        -1 prunes forever.
    frequency : int
        Prune when ``(step - begin_step) % frequency == 0``; > 0.
    """

    def __init__(self, target_sparsity, begin_step, end_step=-1, frequency=100):
        self.target_sparsity = _check_sparsity("target_sparsity", target_sparsity)
        self.begin_step = _check_int("begin_step", begin_step, 0)
        self.end_step = _check_end_step(end_step, self.begin_step, allow_forever=True)
        self.frequency = _check_int("frequency", frequency, 1)

    def should_prune(self, step):
        return _on_frequency(step, self.begin_step, self.end_step, self.frequency)

    def sparsity_at(self, step):
        return self.target_sparsity

    def get_config(self):
        return {"target_sparsity": self.target_sparsity, "begin_step": self.begin_step,
                "end_step": self.end_step, "frequency": self.frequency}


@register_schedule
class PolynomialDecay(PruningSchedule):
    """Raise sparsity from ``initial_sparsity`` to ``final_sparsity`` polynomially.

    ``sparsity = final + (initial - final) * (1 - p) ** power`` with
    ``p = clip((step - begin_step) / (end_step - begin_step), 0, 1)``
    (Zhu & Gupta 2017, as in TF-MOT): fast pruning early, slow near the end.

    Parameters
    ----------
    initial_sparsity, final_sparsity : float
        Sparsity at ``begin_step`` and from ``end_step`` on, in [0, 1),
        ``final_sparsity >= initial_sparsity``.
    begin_step : int
        First pruning step, >= 0.
    end_step : int
        Last pruning step, > begin_step.
    power : int or float
        Exponent of the decay, > 0 (3 in the paper).
    frequency : int
        Prune when ``(step - begin_step) % frequency == 0`` and at ``end_step``; > 0.
    """

    def __init__(self, initial_sparsity, final_sparsity, begin_step, end_step,
                 power=3, frequency=100):
        self.initial_sparsity = _check_sparsity("initial_sparsity", initial_sparsity)
        self.final_sparsity = _check_sparsity("final_sparsity", final_sparsity)
        if self.final_sparsity < self.initial_sparsity:
            raise ArgumentError(f"final_sparsity={final_sparsity} must be >= "
                             f"initial_sparsity={initial_sparsity}: pruning never un-prunes")
        self.begin_step = _check_int("begin_step", begin_step, 0)
        self.end_step = _check_end_step(end_step, self.begin_step, allow_forever=False)
        self.power = _check_power(power)
        self.frequency = _check_int("frequency", frequency, 1)

    def should_prune(self, step):
        return _on_frequency(step, self.begin_step, self.end_step, self.frequency)

    def sparsity_at(self, step):
        span = self.end_step - self.begin_step
        p = min(1.0, max(0.0, (step - self.begin_step) / span))
        delta = self.initial_sparsity - self.final_sparsity
        return self.final_sparsity + delta * (1.0 - p) ** self.power

    def get_config(self):
        return {"initial_sparsity": self.initial_sparsity,
                "final_sparsity": self.final_sparsity, "begin_step": self.begin_step,
                "end_step": self.end_step, "power": self.power, "frequency": self.frequency}


@register_schedule
class OneShot(PruningSchedule):
    """Prune once, to ``target_sparsity``, exactly at ``step``.

    Parameters
    ----------
    target_sparsity : float
        Fraction of zeros, in [0, 1).
    step : int
        The one pruning step, >= 0.
    """

    def __init__(self, target_sparsity, step=0):
        self.target_sparsity = _check_sparsity("target_sparsity", target_sparsity)
        self.step = _check_int("step", step, 0)

    def should_prune(self, step):
        return step == self.step

    def sparsity_at(self, step):
        return self.target_sparsity

    def get_config(self):
        return {"target_sparsity": self.target_sparsity, "step": self.step}
