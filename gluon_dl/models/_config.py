"""The frozen per-model configuration read by data transforms and exporters."""
import dataclasses
from typing import Optional, Tuple


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
        Dtype of the raw input (``"float32"`` for images, ``"int32"`` for tokens).
    task : str
        ``"classification"``, ``"regression"``, ``"language-model"``, ...
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
    task: str = "classification"
    paper: str = ""
    lesson: str = ""

    def __post_init__(self):
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
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d):
        """Build a config from :meth:`to_dict` output; unknown keys are rejected."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(d) - set(fields)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {sorted(unknown)}")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**kw)
