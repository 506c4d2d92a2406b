"""The Predictor: raw inputs in, float outputs out, whatever the artifact's format.

A caller passes float inputs in the layout the model was trained with (NCHW
for LeNet), scaled to the model's ``input_range``.  The predictor normalizes
them with the metadata's mean/std, transposes them to the artifact's layout,
quantizes them for an integer input, runs the model and dequantizes the output.
"""
import time
from pathlib import Path

import numpy as np

from gluon_dl.errors import InputShapeError, ModelFileError

from .. import metadata as _metadata
from ._backends import check_file, select_backend


def load(path, backend=None, num_threads=None, metadata=None):
    """Open an exported model for inference.

    Parameters
    ----------
    path : str or Path
        A ``.tflite``, ``.onnx`` or ``prefix-symbol.json`` file written by
        :mod:`deploy.export`, with its metadata sidecar beside it.
    backend : str, optional
        A name from :func:`available_backends`; default: the first installed
        backend for the file's suffix ("litert" before "tflite-runtime").
    num_threads : int, optional
        Threads the backend may use (default: the backend's choice).
    metadata : dict, optional
        Metadata to use instead of the sidecar (for models exported elsewhere).

    Returns
    -------
    Predictor

    Raises
    ------
    ModelFileError
        For a missing, empty, truncated or corrupt file, an unknown suffix, or
        missing/mismatched metadata.
    MissingDependencyError
        When the backend's library is not installed.
    """
    path = Path(path)
    check_file(path)
    backend_cls = select_backend(path, backend)
    meta = (_metadata.validate(metadata, source="metadata argument") if metadata is not None
            else _metadata.read_metadata(path))
    session = backend_cls.open(path, num_threads=num_threads)
    return Predictor(path, backend_cls.name, session, meta)


class Predictor:
    """An exported model ready to run; build it with :func:`load`.

    Attributes
    ----------
    path : Path
    backend : str
        Name of the backend running the model.
    metadata : dict
        The artifact's metadata (see :mod:`deploy.metadata`).
    labels : list of str
    """

    def __init__(self, path, backend, session, metadata):
        self.path, self.backend, self.metadata = Path(path), backend, metadata
        self._session = session
        if len(session.inputs) != 1:
            raise ModelFileError(f"{path} has {len(session.inputs)} inputs; the predictor runs "
                                 f"models with one input")
        self._input = session.inputs[0]
        self.layout = metadata["input"]["layout"]
        self.artifact_layout = metadata["artifact"]["layout"]
        self._perm = tuple(self.layout.index(axis) for axis in self.artifact_layout)
        self._model_shape = tuple(metadata["input"]["shape"])
        self._sample_shape = self._model_shape[1:]
        self._batch = self._fixed_batch()
        self._mean, self._std = _normalization(metadata["input"], self.layout)

    @property
    def labels(self):
        return list(self.metadata.get("labels") or [])

    @property
    def precision(self):
        return self.metadata["artifact"]["precision"]

    @property
    def input_details(self):
        """The artifact's input: name, shape, dtype, layout, scale, zero_point."""
        return {**self._input.to_dict(), "layout": self.artifact_layout,
                "model_layout": self.layout, "model_shape": list(self._model_shape)}

    @property
    def output_details(self):
        return [spec.to_dict() for spec in self._session.outputs]

    def predict(self, x, normalize=True):
        """Run the model on raw inputs.

        Parameters
        ----------
        x : array_like
            A batch ``(N, *input_shape)`` or one sample ``input_shape``, in the
            model's layout (``self.layout``).
        normalize : bool
            Apply the metadata's ``(x - mean) / std``; pass False for inputs
            that are already normalized.

        Returns
        -------
        numpy.ndarray or list of numpy.ndarray
            float32 outputs with a batch axis (a list for several outputs).
        """
        batch = self.preprocess(x, normalize=normalize)
        outputs = self._run(batch)
        return outputs[0] if len(outputs) == 1 else outputs

    def predict_labels(self, x, normalize=True):
        """The top-1 label of each sample (the index as a string without labels)."""
        out = self.predict(x, normalize=normalize)
        out = out[0] if isinstance(out, list) else out
        labels = self.labels
        return [labels[i] if i < len(labels) else str(i) for i in np.argmax(out, axis=-1)]

    def preprocess(self, x, normalize=True):
        """``x`` as the artifact takes it: normalized, transposed, quantized."""
        batch = self._as_batch(x)
        if normalize and self._mean is not None:
            batch = (batch - self._mean) / self._std
        batch = np.ascontiguousarray(batch.transpose(self._perm))
        return _quantize(batch, self._input)

    def _as_batch(self, x):
        raw = self.metadata["input"]["dtype"]
        dtype = np.float32 if raw.startswith("float") else np.dtype(raw)
        x = np.asarray(x, dtype=dtype)
        if x.shape == self._sample_shape:
            x = x[None]
        if x.shape[1:] != self._sample_shape or len(x) == 0:
            raise InputShapeError(self._shape_message(x.shape))
        return x

    def _shape_message(self, shape):
        sample = self._sample_shape
        msg = (f"{self.path.name} expects inputs of shape (N, {', '.join(map(str, sample))}) in "
               f"layout {self.layout}, or one sample {sample}; got {tuple(shape)}")
        channels_last = sample[1:] + sample[:1]
        if self.layout.startswith("NC") and channels_last != sample \
                and tuple(shape[-len(sample):]) == channels_last:
            msg += (f". That looks like channels-last ({self.layout[2:]}C): pass {self.layout} "
                    f"inputs, the predictor transposes them to the artifact's "
                    f"{self.artifact_layout} itself")
        return msg

    def _run(self, batch):
        n = batch.shape[self._batch_axis]
        if self._batch is None or n == self._batch:
            outputs = self._session.run(batch)
        elif self._batch == 1:
            parts = [self._session.run(np.take(batch, [i], axis=self._batch_axis))
                     for i in range(n)]
            outputs = [np.concatenate(p, axis=0) for p in zip(*parts)]
        else:
            raise InputShapeError(f"{self.path.name} takes batches of exactly {self._batch} "
                                  f"samples; got {n}")
        return [_dequantize(y, spec) for y, spec in zip(outputs, self._session.outputs)]

    @property
    def _batch_axis(self):
        return self.artifact_layout.index("N") if "N" in self.artifact_layout else 0

    def _fixed_batch(self):
        """The artifact's fixed batch size, None if dynamic; checks the metadata fits."""
        shape = self._input.shape
        if not shape:  # the backend does not report shapes (MXNet)
            return None
        expected = tuple(self._model_shape[i] for i in self._perm)
        fits = len(shape) == len(expected) and all(
            s is None or s == e or i == self._batch_axis
            for i, (s, e) in enumerate(zip(shape, expected)))
        if not fits:
            raise ModelFileError(
                f"{self.path}: its metadata describes an input {list(expected)} in layout "
                f"{self.artifact_layout}, but the model's input '{self._input.name}' is "
                f"{[s if s is not None else -1 for s in shape]}; the metadata belongs to another "
                f"model: re-export it")
        return shape[self._batch_axis]

    def __repr__(self):
        spec = self._input
        shape = ",".join("?" if s is None else str(s) for s in spec.shape)
        return (f"Predictor('{self.path.name}', backend='{self.backend}', "
                f"precision='{self.precision}', "
                f"input={spec.dtype}[{shape}] {self.artifact_layout})")


def _normalization(inp, layout):
    if inp.get("mean") is None:
        return None, None
    mean = np.asarray(inp["mean"], dtype=np.float32)
    std = np.asarray(inp["std"], dtype=np.float32)
    if mean.size > 1:
        shape = [1] * len(layout)
        shape[layout.index("C")] = mean.size
        mean, std = mean.reshape(shape), std.reshape(shape)
    return mean, std


def _quantize(x, spec):
    if spec.quantized:
        info = np.iinfo(spec.dtype)
        q = np.round(x / spec.scale) + spec.zero_point
        return np.clip(q, info.min, info.max).astype(spec.dtype)
    if spec.dtype and np.dtype(spec.dtype) != x.dtype:
        return x.astype(spec.dtype)
    return x


def _dequantize(y, spec):
    y = np.asarray(y)
    if spec.quantized:
        return ((y.astype(np.float32) - spec.zero_point) * spec.scale).astype(np.float32)
    if y.dtype.kind == "f":
        return y.astype(np.float32, copy=False)
    return y


def benchmark_latency(predictor, x=None, runs=100, warmup=10):
    """Seconds per batch-1 ``predictor.predict`` call, ``runs`` times after ``warmup``.

    Parameters
    ----------
    predictor : Predictor
    x : array_like, optional
        One sample in the model's layout; default: mid-range constant input.
    runs, warmup : int

    Returns
    -------
    list of float
        One wall-clock time per run (take the median to compare models).
    """
    if x is None:
        lo, hi = predictor.metadata["input"]["input_range"]
        x = np.full(predictor.metadata["input"]["shape"][1:], (lo + hi) / 2, dtype=np.float32)
    x = predictor._as_batch(x)[:1]
    for _ in range(warmup):
        predictor.predict(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predictor.predict(x)
        times.append(time.perf_counter() - start)
    return times
