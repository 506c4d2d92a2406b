"""The frozen per-model configuration read by data transforms and exporters."""
import dataclasses
from typing import Optional, Tuple


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
    value_range : tuple
        ``[low, high)`` of the values: token ids ``(0, vocab_size)``, valid
        lengths ``(1, T + 1)``, or the float range of raw inputs.
    """

    name: str
    shape: Tuple[int, ...]
    dtype: str = "float32"
    value_range: Tuple[float, float] = (0.0, 1.0)

    @classmethod
    def from_value(cls, value):
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
        return cls(*value)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What a model expects as input and what its outputs mean.

    Data transforms normalize with ``mean``/``std``; exporters write the same
    fields into every artifact's metadata so an edge runtime needs nothing
    else.  Nothing in gluon-dl guesses an input shape: it reads it here.

    Parameters
    ----------
    name : str
        Registered model name.
    input_shape : tuple of int
        One sample's shape, without the batch axis, in ``layout`` order.
    layout : str
        Axis order of ``input_shape`` with the batch axis, e.g. ``"NCHW"``.
    mean, std : tuple of float
        Per-channel normalization: the network sees ``(x - mean) / std``
        where ``x`` lies in ``input_range``.
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
        object.__setattr__(self, "extra_inputs",
                           tuple(InputSpec.from_value(v) for v in self.extra_inputs))
        if len(self.layout) != len(self.input_shape) + 1:
            raise ValueError(
                f"model '{self.name}': layout {self.layout!r} must name the batch axis plus "
                f"the {len(self.input_shape)} axes of input_shape {self.input_shape}")
        if len(self.mean) != len(self.std):
            raise ValueError(f"model '{self.name}': mean and std need the same length")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"model '{self.name}': std must be positive, got {self.std}")
        if self.labels and self.num_classes is not None and len(self.labels) != self.num_classes:
            raise ValueError(
                f"model '{self.name}': {len(self.labels)} labels for {self.num_classes} classes")

    @property
    def batch_shape(self):
        """Input shape with a batch axis of 1."""
        return (1,) + tuple(self.input_shape)

    @property
    def inputs(self):
        """Every input as an :class:`InputSpec`, the primary one first."""
        primary = InputSpec(self.input_name, tuple(self.input_shape), self.input_dtype,
                            tuple(self.input_range))
        return (primary,) + tuple(self.extra_inputs)

    @property
    def input_names(self):
        return [spec.name for spec in self.inputs]

    def replace(self, **changes):
        """Return a copy with ``changes`` applied (e.g. another ``num_classes``)."""
        if "num_classes" in changes and "labels" not in changes:
            n = changes["num_classes"]
            if self.labels and n != len(self.labels):
                changes["labels"] = tuple(str(i) for i in range(n))
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """A JSON-ready dict; :meth:`from_dict` inverts it."""
        d = dataclasses.asdict(self)
        d["extra_inputs"] = [_listify(spec) for spec in d["extra_inputs"]]
        return {k: _listify(v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d):
        """Build a config from :meth:`to_dict` output; unknown keys are rejected."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(d) - set(fields)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {sorted(unknown)}")
        kw = {k: _tuplify(v) for k, v in d.items() if k != "extra_inputs"}
        kw["extra_inputs"] = tuple(InputSpec.from_value(v) for v in d.get("extra_inputs", ()))
        return cls(**kw)


def _listify(v):
    if isinstance(v, dict):
        return {k: _listify(x) for k, x in v.items()}
    if isinstance(v, (tuple, list)):
        return [_listify(x) for x in v]
    return v


def _tuplify(v):
    return tuple(_tuplify(x) for x in v) if isinstance(v, list) else v


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

