"""The frozen per-model configuration: what a model takes and what its outputs mean.

:class:`ModelConfig` is the one description of a model's inputs, task,
normalization and labels.  Data transforms normalize with
:meth:`ModelConfig.normalize`, exporters write :meth:`ModelConfig.to_dict`
into every artifact's metadata, and the edge runtime rebuilds the config
with :meth:`ModelConfig.from_dict` from there, so every field of a metadata
sidecar is checked by the validation below.

This module imports nothing but the standard library, numpy and gluon-dl's
errors: the edge runtime (``pip install gluon-dl[edge]``) depends on it.
"""
import dataclasses
import math
import numbers
from typing import Optional, Tuple

import numpy as np

from .errors import ArgumentError, InputShapeError

#: Dtypes a model input may have (numpy names, one spelling each).
DTYPES = ("float16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64")


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One input of a model beyond the primary one (e.g. a decoder's tokens).

    Parameters
    ----------
    name : str
        Symbol name of the input, as ``export()`` writes it.
    shape : tuple of int
        Shape without the batch axis.
    dtype : str
        One of :data:`DTYPES`.
    value_range : tuple
        ``[low, high)`` of the values: token ids ``(0, vocab_size)``, valid
        lengths ``(1, T + 1)``, or the float range of raw inputs.

    Raises
    ------
    ArgumentError
        For a field of the wrong type or value; the message names it.
    """

    name: str
    shape: Tuple[int, ...]
    dtype: str = "float32"
    value_range: Tuple[float, float] = (0.0, 1.0)

    def __post_init__(self):
        owner = f"input '{self.name}'"
        _check_name(owner, "name", self.name)
        _set(self, "shape", _dims(owner, "shape", self.shape))
        _check_dtype(owner, "dtype", self.dtype)
        _set(self, "value_range", _value_range(owner, "value_range", self.value_range,
                                               self.dtype))

    @classmethod
    def from_value(cls, value):
        """An InputSpec from itself, a dict of its fields or a ``(name, shape, ...)`` sequence."""
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            _check_keys("InputSpec", value, cls)
            return cls(**{k: _tuplify(v) for k, v in value.items()})
        if isinstance(value, (list, tuple)) and 2 <= len(value) <= 4:
            return cls(*[_tuplify(v) for v in value])
        raise ArgumentError(f"an extra input must be an InputSpec, a dict of its fields or a "
                            f"(name, shape, dtype, value_range) list, got {_short(value)}")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What a model expects as input and what its outputs mean.

    Data transforms normalize with :meth:`normalize`; exporters write
    :meth:`to_dict` into every artifact's metadata so an edge runtime needs
    nothing else.  Nothing in gluon-dl guesses an input shape: it reads it here.
    Sequences may be given as lists; they are stored as tuples.

    Parameters
    ----------
    name : str
        Registered model name.
    input_shape : tuple of int
        One sample's shape, without the batch axis, in ``layout`` order.
    layout : str
        Axis order of ``input_shape`` with the batch axis first, e.g. ``"NCHW"``;
        one letter per axis, none repeated, ``"C"`` marking the channels.
    mean, std : tuple of float
        Per-channel normalization: the network sees ``(x - mean) / std``
        where ``x`` lies in ``input_range``.  One value, or one per channel.
    input_range : tuple of float
        Range of raw inputs before normalization (images scaled to [0, 1]).
    num_classes : int or None
        Number of output classes for classifiers.
    labels : tuple of str
        Class names, ``len(labels) == num_classes`` when given.
    input_dtype : str
        Dtype of the raw input (``"float32"`` for images, ``"int32"`` for tokens;
        for integer inputs ``input_range`` is the ``[low, high)`` of the ids).
    input_name : str
        Symbol name of the primary input.
    extra_inputs : tuple of InputSpec
        Further inputs, in call order after the primary one.
    test_input_shape : tuple of int, optional
        A smaller primary input shape that the model also accepts, used by
        the test suite to keep large models fast (e.g. 3x32x32 for ImageNet
        networks).  ``input_shape`` stays the deployment shape.
    task : str
        ``"classification"``, ``"regression"``, ``"language-model"``, ...
    reference_params : int, optional
        The published number of trainable parameters of this configuration;
        the test suite checks the implementation against it.
    gluoncv_name : str, optional
        The same architecture in GluonCV's model zoo, compared in the tests.
    paper : str
        Where the architecture comes from.
    lesson : str
        The course lesson that uses it.

    Raises
    ------
    ArgumentError
        For a field of the wrong type or value (a zero or non-finite ``std``,
        a layout with repeated axes, an unknown dtype, ...); the message
        names the field.
    """

    name: str
    input_shape: Tuple[int, ...]
    layout: str = "NCHW"
    mean: Tuple[float, ...] = (0.0,)
    std: Tuple[float, ...] = (1.0,)
    input_range: Tuple[float, float] = (0.0, 1.0)
    num_classes: Optional[int] = None
    labels: Tuple[str, ...] = ()
    input_dtype: str = "float32"
    input_name: str = "data"
    extra_inputs: Tuple[InputSpec, ...] = ()
    test_input_shape: Optional[Tuple[int, ...]] = None
    task: str = "classification"
    reference_params: Optional[int] = None
    gluoncv_name: Optional[str] = None
    paper: str = ""
    lesson: str = ""

    def __post_init__(self):
        _check_name("model config", "name", self.name)
        owner = f"model '{self.name}'"
        _set(self, "input_shape", _dims(owner, "input_shape", self.input_shape))
        _check_layout(owner, self.layout, self.input_shape)
        _check_dtype(owner, "input_dtype", self.input_dtype)
        channels = self.num_channels
        for field in ("mean", "std"):
            _set(self, field, _per_channel(owner, field, getattr(self, field), channels))
        _set(self, "input_range", _value_range(owner, "input_range", self.input_range,
                                               self.input_dtype))
        self._check_outputs(owner)
        self._check_extras(owner)

    def _check_outputs(self, owner):
        _set(self, "num_classes", _count(owner, "num_classes", self.num_classes))
        _set(self, "labels", _strings(owner, "labels", self.labels))
        if self.labels and self.num_classes is not None and len(self.labels) != self.num_classes:
            raise ArgumentError(f"{owner}: {len(self.labels)} labels for {self.num_classes} "
                                f"classes; give one label per class")
        _check_name(owner, "task", self.task)
        _set(self, "reference_params", _count(owner, "reference_params", self.reference_params))
        for field in ("gluoncv_name", "paper", "lesson"):
            value = getattr(self, field)
            if not isinstance(value, str) and not (field == "gluoncv_name" and value is None):
                raise ArgumentError(f"{owner}: {field} must be a string, got {_short(value)}")

    def _check_extras(self, owner):
        _check_name(owner, "input_name", self.input_name)
        if self.test_input_shape is not None:
            shape = _dims(owner, "test_input_shape", self.test_input_shape)
            if len(shape) != len(self.input_shape):
                raise ArgumentError(f"{owner}: test_input_shape {list(shape)} needs the "
                                    f"{len(self.input_shape)} axes of input_shape")
            _set(self, "test_input_shape", shape)
        extras = self.extra_inputs
        if isinstance(extras, (str, bytes, dict)) or not isinstance(extras, (list, tuple)):
            raise ArgumentError(f"{owner}: extra_inputs must be a list of inputs, got "
                                f"{_short(extras)}")
        specs = []
        for i, value in enumerate(extras):
            try:
                specs.append(InputSpec.from_value(value))
            except (ArgumentError, TypeError) as exc:
                raise ArgumentError(f"{owner}: extra_inputs[{i}]: {exc}") from None
        _set(self, "extra_inputs", tuple(specs))

    @property
    def batch_shape(self):
        """Input shape with a batch axis of 1."""
        return (1,) + tuple(self.input_shape)

    @property
    def num_channels(self):
        """Size of the ``"C"`` axis of ``input_shape``; None when the layout has none."""
        if "C" not in self.layout:
            return None
        return self.input_shape[self.layout.index("C") - 1]

    @property
    def inputs(self):
        """Every input as an :class:`InputSpec`, the primary one first."""
        primary = InputSpec(self.input_name, tuple(self.input_shape), self.input_dtype,
                            tuple(self.input_range))
        return (primary,) + tuple(self.extra_inputs)

    @property
    def input_names(self):
        return [spec.name for spec in self.inputs]

    @property
    def takes_floats(self):
        """Whether the primary input is floats (images, signals) rather than integer ids."""
        return self.input_dtype.startswith("float")

    def normalize(self, x):
        """``(x - mean) / std`` per channel of ``layout``: what the network sees.

        The one normalization of gluon-dl: data transforms, exporters and the
        edge runtime all call it.

        Parameters
        ----------
        x : array_like
            A batch in ``layout`` (``(N,) + input_shape``) or one sample
            without the batch axis: the rank tells them apart.  Other sizes
            than ``input_shape`` work (the test shapes, say) as long as the
            channel axis matches ``mean``/``std``.

        Returns
        -------
        numpy.ndarray
            float32, the shape of ``x``.  Integer inputs (token ids) come back
            unchanged: mean and std do not apply to them.

        Raises
        ------
        InputShapeError
            When ``x`` has neither rank, or another channel count than
            ``mean``/``std``.
        """
        x = np.asarray(x)
        if not self.takes_floats:
            return x
        mean, std = self._broadcastable(x.shape)
        return ((x.astype(np.float32, copy=False) - mean) / std).astype(np.float32, copy=False)

    def _broadcastable(self, shape):
        """``mean`` and ``std`` as float32 arrays that broadcast against ``shape``."""
        rank = len(self.layout)
        if len(shape) not in (rank, rank - 1):
            raise InputShapeError(
                f"model '{self.name}' normalizes batches in layout {self.layout} (rank {rank}) "
                f"or single samples (rank {rank - 1}); got an array of shape {tuple(shape)}")
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        if mean.size == 1 and std.size == 1:
            return mean.reshape(()), std.reshape(())
        axis = self.layout.index("C") - (rank - len(shape))
        if shape[axis] != max(mean.size, std.size):
            raise InputShapeError(
                f"model '{self.name}' normalizes {max(mean.size, std.size)} channels on axis "
                f"'C' of {self.layout}; got an array of shape {tuple(shape)} with {shape[axis]}")
        per_channel = [1] * len(shape)
        per_channel[axis] = -1
        return mean.reshape(per_channel), std.reshape(per_channel)

    def scale_to_range(self, x):
        """Map uint8 pixels 0..255 linearly onto ``input_range``; other inputs as float32.

        Integer-input configs (token ids) return ``x`` unchanged.
        """
        x = np.asarray(x)
        if not self.takes_floats:
            return x
        if x.dtype == np.uint8:
            lo, hi = self.input_range
            return x.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)
        return x.astype(np.float32, copy=False)

    def replace(self, **changes):
        """Return a copy with ``changes`` applied (e.g. another ``num_classes``).

        Another ``num_classes`` drops labels that no longer fit: class names
        then read as their indices, as for a model without labels.
        """
        if "num_classes" in changes and "labels" not in changes:
            if self.labels and changes["num_classes"] != len(self.labels):
                changes["labels"] = ()
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """A JSON-ready dict; :meth:`from_dict` inverts it."""
        d = dataclasses.asdict(self)
        d["extra_inputs"] = [_listify(spec) for spec in d["extra_inputs"]]
        return {k: _listify(v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d):
        """Build a config from :meth:`to_dict` output.

        Raises
        ------
        ArgumentError
            For a non-dict, unknown or missing keys, or an invalid field.
        """
        if not isinstance(d, dict):
            raise ArgumentError(f"a model config must be a dict of ModelConfig fields, got "
                                f"{_short(d)}")
        _check_keys("ModelConfig", d, cls)
        kw = {k: _tuplify(v) for k, v in d.items() if k != "extra_inputs"}
        if "extra_inputs" in d:
            kw["extra_inputs"] = d["extra_inputs"]
        return cls(**kw)


# --- field checks ---------------------------------------------------------------------------

def _set(obj, field, value):
    object.__setattr__(obj, field, value)  # the dataclass is frozen once built


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _check_keys(kind, d, cls):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in set(d) - set(fields))
    if unknown:
        raise ArgumentError(f"unknown {kind} fields {unknown}; the fields are "
                            f"{', '.join(fields)}")
    missing = [name for name, f in fields.items() if name not in d
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ArgumentError(f"{kind} lacks the required fields {missing}")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _sequence(owner, field, value, what):
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ArgumentError(f"{owner}: {field} must be a list of {what}, got {_short(value)}")
    return tuple(value)


def _check_name(owner, field, value):
    if not isinstance(value, str) or not value:
        raise ArgumentError(f"{owner}: {field} must be a non-empty string, got {_short(value)}")


def _count(owner, field, value):
    if value is None:
        return None
    if not _is_int(value) or value < 1:
        raise ArgumentError(f"{owner}: {field} must be a positive integer or None, got "
                            f"{_short(value)}")
    return int(value)


def _check_dtype(owner, field, value):
    if value not in DTYPES:
        raise ArgumentError(f"{owner}: {field} must be one of {', '.join(DTYPES)}, got "
                            f"{_short(value)}")


def _dims(owner, field, value):
    dims = _sequence(owner, field, value, "positive integers")
    if not all(_is_int(d) and d > 0 for d in dims):
        raise ArgumentError(f"{owner}: {field} must hold positive integers, got {_short(value)}")
    return tuple(int(d) for d in dims)


def _check_layout(owner, layout, input_shape):
    if not isinstance(layout, str) or not (layout.isascii() and layout.isalpha()
                                           and layout.isupper()):
        raise ArgumentError(f"{owner}: layout must be upper-case axis letters such as 'NCHW', "
                            f"got {_short(layout)}")
    if len(set(layout)) != len(layout):
        raise ArgumentError(f"{owner}: layout {layout!r} repeats an axis; name each axis once")
    if not layout.startswith("N"):
        raise ArgumentError(f"{owner}: layout {layout!r} must start with the batch axis 'N'")
    if len(layout) != len(input_shape) + 1:
        raise ArgumentError(
            f"{owner}: layout {layout!r} must name the batch axis plus the "
            f"{len(input_shape)} axes of input_shape {list(input_shape)}")


def _per_channel(owner, field, value, channels):
    values = _sequence(owner, field, value, "numbers")
    if not values or not all(_is_real(v) and math.isfinite(v) for v in values):
        raise ArgumentError(f"{owner}: {field} must hold finite numbers, got {_short(value)}")
    if field == "std" and any(v <= 0 for v in values):
        raise ArgumentError(f"{owner}: std must be positive (it divides the input), got "
                            f"{_short(value)}")
    allowed = (1,) if channels is None else (1, channels)
    if len(values) not in allowed:
        per = "" if channels is None else f" or one per channel ({channels})"
        raise ArgumentError(f"{owner}: {field} has {len(values)} values; give one{per}")
    return tuple(float(v) for v in values)  # numpy scalars would not serialize to JSON


def _value_range(owner, field, value, dtype):
    pair = _sequence(owner, field, value, "two numbers [low, high)")
    if len(pair) != 2 or not all(_is_real(v) and math.isfinite(v) for v in pair) \
            or not pair[0] < pair[1]:
        raise ArgumentError(f"{owner}: {field} must be two finite numbers low < high, got "
                            f"{_short(value)}")
    if not dtype.startswith("float") and not all(float(v).is_integer() for v in pair):
        raise ArgumentError(f"{owner}: {field} of {dtype} inputs must be whole numbers, got "
                            f"{_short(value)}")
    return tuple(int(v) if _is_int(v) else float(v) for v in pair)


def _strings(owner, field, value):
    items = _sequence(owner, field, value, "strings")
    if not all(isinstance(s, str) for s in items):
        raise ArgumentError(f"{owner}: {field} must hold strings, got {_short(value)}")
    return tuple(str(s) for s in items)


def _listify(v):
    if isinstance(v, dict):
        return {k: _listify(x) for k, x in v.items()}
    if isinstance(v, (tuple, list)):
        return [_listify(x) for x in v]
    return v


def _tuplify(v):
    return tuple(_tuplify(x) for x in v) if isinstance(v, list) else v


# --- configs of token models ----------------------------------------------------------------

def token_config(name, num_steps, vocab_size, **fields):
    """The config of a model whose (first) input is ``(N, num_steps)`` int32 token ids.

    Ids lie in ``[0, vocab_size)``; ``fields`` are the other ModelConfig fields.
    Multi-input blocks take their inputs as Gluon's ``export()`` names them,
    ``data0, data1, ...``: pass ``input_name="data0"`` and the rest as
    ``extra_inputs`` (see :func:`token_input` and :func:`valid_length_input`).
    """
    return ModelConfig(name=name, input_shape=(num_steps,), layout="NT", input_dtype="int32",
                       input_range=(0, vocab_size), **fields)


def token_input(name, num_steps, vocab_size):
    """An extra input of ``(N, num_steps)`` token ids in ``[0, vocab_size)``."""
    return InputSpec(name, (num_steps,), "int32", (0, vocab_size))


def valid_length_input(name, num_steps):
    """An extra input of ``(N,)`` valid lengths in ``[1, num_steps]``."""
    return InputSpec(name, (), "int32", (1, num_steps + 1))
