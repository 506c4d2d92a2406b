"""The Predictor: raw inputs in, float outputs out, whatever the artifact's format.

A caller passes inputs in the layout the model was trained with (NCHW for
LeNet), floats scaled to the model's ``input_range`` or integer ids.  The
predictor checks them (shape, dtype, finite values, range), normalizes them
with the model's config, transposes them to the artifact's layout, quantizes
them for an integer input, runs the model, dequantizes the output and checks
that it is finite: a damaged model or a bad input gives an error, never a
confident answer.
"""
import time
from pathlib import Path

import numpy as np

from gluon_dl.errors import ArgumentError, InputShapeError, ModelFileError, NonFiniteError
from gluon_dl.utils.io import as_path

from .. import metadata as _metadata
from ._backends import check_file, select_backend

# Float inputs further than one range width outside ``input_range`` are refused:
# 0..255 pixels given to a [0, 1] model, say.  Values just outside (augmented or
# resampled images) are fine.
RANGE_SLACK = 1.0
_MAX_LISTED = 8  # sample indices named in an error message


def load(path, backend=None, num_threads=None, metadata=None, verify_checksum=True):
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
    verify_checksum : bool
        Check the file (and for MXNet its ``.params``) against the SHA-256
        recorded in the metadata before opening it.  Pass False only for a
        model you changed on purpose.

    Returns
    -------
    Predictor

    Raises
    ------
    ModelFileError
        For a missing, empty, truncated or corrupt file, an unknown suffix, or
        missing, invalid or mismatched metadata.
    IntegrityError
        When ``verify_checksum`` is on and a file's SHA-256 differs from the
        recorded one (or none is recorded).
    UnknownNameError, ArgumentError
        For an unknown ``backend``, or one that does not run this file.
    MissingDependencyError
        When the backend's library is not installed.
    """
    path = as_path(path, "the model")
    check_file(path)
    backend_cls = select_backend(path, backend)
    if metadata is not None:
        meta = _metadata.validate(metadata, source="the metadata argument")
        origin = _metadata.ARGUMENT
    else:
        meta, origin = _metadata.locate_metadata(path)
    if meta["artifact"]["format"] != backend_cls.format:
        raise ModelFileError(f"{path}: its metadata describes an artifact of format "
                             f"'{meta['artifact']['format']}', not a {backend_cls.format} file; "
                             f"the metadata belongs to another model: re-export it")
    if verify_checksum:
        _metadata.check_integrity(path, meta, origin, backend_cls.companions(path))
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
    config : ModelConfig
        The model's configuration, rebuilt from ``metadata["config"]``.
    labels : list of str
    """

    def __init__(self, path, backend, session, metadata):
        self.path, self.backend, self.metadata = Path(path), backend, metadata
        self.config = _metadata.config_from(metadata, source=f"metadata of {self.path}")
        self._session = session
        self._feed_order = self._match_inputs(session, metadata)
        self._output_order = self._match_outputs(session, metadata)
        self._tensors = [session.inputs[i] for i in self._feed_order]  # config.inputs order
        self._input = self._tensors[0]
        self.layout = self.config.layout
        self.artifact_layout = metadata["artifact"]["layout"]
        self._perm = tuple(self.layout.index(axis) for axis in self.artifact_layout)
        self._model_shape = self.config.batch_shape
        self._sample_shape = self._model_shape[1:]
        self._free = self._free_axes(metadata)
        self._batch = self._fixed_batch()

    def _free_axes(self, metadata):
        """Per input, the sample axes (model layout, batch excluded) of any size in the artifact.

        An ONNX model's sequence length, say: its metadata's ``input_shapes``
        has null there.
        """
        shapes = metadata["artifact"].get("input_shapes")
        free = [set() for _ in self.config.inputs]
        if shapes is None:
            return free
        for k, shape in enumerate(shapes):
            for axis, size in enumerate(shape):
                model_axis = self._perm[axis] if k == 0 else axis
                if size is None and model_axis > 0:
                    free[k].add(model_axis - 1)
        return free

    def _match_inputs(self, session, metadata):
        """For each input of the config, the index of the session's input that takes it."""
        specs = self.config.inputs
        if len(session.inputs) != len(specs):
            raise ModelFileError(
                f"{self.path} has {len(session.inputs)} inputs, its metadata describes "
                f"{len(specs)} ({self.config.input_names}); the metadata belongs to another "
                f"model: re-export it")
        if len(specs) == 1:
            return [0]
        names = [t.name for t in session.inputs]
        order = []
        for spec, recorded in zip(specs, metadata["artifact"]["input_names"]):
            hits = [i for i, n in enumerate(names) if n in (recorded, spec.name)]
            if len(hits) != 1:
                raise ModelFileError(f"{self.path}: its inputs are {names}, none of them the "
                                     f"'{recorded}' its metadata records for '{spec.name}'; "
                                     f"re-export the model")
            order.append(hits[0])
        return order

    def _match_outputs(self, session, metadata):
        """For each output of the MXNet model, the index of the session's output holding it.

        TFLite files record it (``output_order``): their converter reorders
        outputs.  Without it the artifact keeps the model's order.
        """
        artifact = metadata["artifact"]
        order = artifact.get("output_order")
        if order is None:
            return list(range(len(session.outputs)))
        names = [t.name for t in session.outputs]
        recorded = [names[i] for i in order if i < len(names)]
        if len(order) != len(names) or recorded != artifact["output_names"]:
            raise ModelFileError(f"{self.path} has the outputs {names}; its metadata records "
                                 f"{artifact['output_names']} at positions {order}: the "
                                 f"metadata belongs to another model: re-export it")
        return list(order)

    @property
    def input_names(self):
        """Names of the model's inputs, the order :meth:`predict` takes them in."""
        return self.config.input_names

    @property
    def labels(self):
        return list(self.config.labels)

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
        """The artifact's outputs, in the MXNet model's order."""
        return [self._session.outputs[i].to_dict() for i in self._output_order]

    def predict(self, *inputs, normalize=True):
        """Run the model on raw inputs.

        Parameters
        ----------
        *inputs : array_like, or one dict
            One array per model input in the order of :attr:`input_names`
            (``predict(x)`` for a single-input model, ``predict(src, tgt,
            valid_len)`` for a seq2seq one), or one ``{name: array}`` dict.
            Each is a batch ``(N, *shape)`` or one sample ``shape``; the
            primary input in the model's layout (``self.layout``): floats in
            the config's ``input_range`` (or already normalized, see
            ``normalize``), or integer ids in ``[low, high)`` for token models.
        normalize : bool
            Apply the config's ``(x - mean) / std`` to the primary input; pass
            False for inputs that are already normalized (their range is then
            not checked).

        Returns
        -------
        numpy.ndarray or list of numpy.ndarray
            float32 outputs with a batch axis (a list for several outputs, in
            the MXNet model's order: ``metadata["artifact"]["output_names"]``).

        Raises
        ------
        InputShapeError
            For a missing, extra or unknown input, a wrong shape, a
            non-numeric dtype (complex, object, strings), float ids, ids
            outside ``[low, high)``, floats far outside the input's range or
            inputs with different batch sizes; the message names the input
            and the samples.
        NonFiniteError
            For NaN/Inf in the inputs, or in the outputs (a damaged model).
        """
        feeds = self._feeds(inputs, normalize)
        outputs = self._run(feeds)
        for y in outputs:
            self._check_output(y)
        return outputs[0] if len(outputs) == 1 else outputs

    def predict_labels(self, *inputs, normalize=True):
        """The top-1 label of each sample (the index as a string without labels)."""
        return [best[0][1] for best in self.top_k(*inputs, k=1, normalize=normalize)]

    def top_k(self, *inputs, k=None, normalize=True):
        """The ``k`` highest-scoring classes of each sample, best first.

        Parameters
        ----------
        *inputs : array_like
            As for :meth:`predict`; ``top_k(x, 3)`` still reads the last
            positional argument of a single-input model as ``k``.
        k : int
            At least 1; more than the number of classes gives them all.

        Returns
        -------
        list of list of (int, str, float)
            Per sample: ``(index, label, score)`` tuples (the label is the
            index as a string when the model has no labels).

        Raises
        ------
        ArgumentError
            For ``k < 1``, or a model whose output is not one score per class
            (``(N, classes)``).
        """
        if k is None and len(inputs) == len(self._tensors) + 1:
            *inputs, k = inputs
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ArgumentError(f"top-k needs k >= 1 classes per sample, got {k!r}")
        scores = self.predict(*inputs, normalize=normalize)
        if isinstance(scores, list) or scores.ndim != 2:
            shapes = [s.shape for s in scores] if isinstance(scores, list) else scores.shape
            raise ArgumentError(
                f"{self.path.name} ({self.config.task}) returns outputs of shape {shapes}, not "
                f"one score per class (N, classes); top-k needs a classifier: run "
                f"Predictor.predict for its raw outputs")
        labels = self.labels
        return [[(int(i), labels[i] if i < len(labels) else str(i), float(row[i]))
                 for i in np.argsort(-row, kind="stable")[:k]] for row in scores]

    def preprocess(self, *inputs, normalize=True):
        """The inputs as the artifact takes them: checked, normalized, transposed, quantized.

        Returns one array for a single-input model, else a list with one
        array per input of the artifact, in the order its runtime lists them.
        """
        feeds = self._feeds(inputs, normalize)
        return feeds[0] if len(feeds) == 1 else feeds

    def _feeds(self, inputs, normalize):
        arrays = self._collect(inputs)
        single = _fits(np.shape(arrays[0]), self._sample_shape, self._free[0])
        batches = []
        for i, (spec, x) in enumerate(zip(self.config.inputs, arrays)):
            if i == 0:
                batch = self.check_inputs(x, check_range=normalize)
                if normalize:
                    batch = self.config.normalize(batch)
                batch = np.ascontiguousarray(batch.transpose(self._perm))
            else:
                batch = self._check_extra(spec, x, single, check_range=normalize)
            batches.append(batch)
        sizes = {spec.name: len(b) for spec, b in zip(self.config.inputs, batches)}
        if len(set(sizes.values())) > 1:
            raise InputShapeError(f"{self.path.name}: every input needs the same number of "
                                  f"samples; got {sizes}")
        quantized = [_quantize(b, t) for b, t in zip(batches, self._tensors)]
        feeds = [None] * len(quantized)
        for k, index in enumerate(self._feed_order):
            feeds[index] = quantized[k]
        return feeds

    def _collect(self, inputs):
        """The positional or by-name inputs as a list in ``config.inputs`` order."""
        names = self.config.input_names
        if len(inputs) == 1 and isinstance(inputs[0], dict):
            given = inputs[0]
            unknown = sorted(str(n) for n in set(given) - set(names))
            missing = [n for n in names if n not in given]
            if unknown or missing:
                parts = ([f"lacks {missing}"] if missing else []) + (
                    [f"has unknown inputs {unknown}"] if unknown else [])
                raise InputShapeError(f"{self.path.name} takes the inputs {names}; the dict "
                                      f"{' and '.join(parts)}")
            return [given[n] for n in names]
        if len(inputs) != len(names):
            how = (f"predict({', '.join(names)}) or predict({{name: array}})" if len(names) > 1
                   else "predict(x)")
            raise InputShapeError(f"{self.path.name} takes {len(names)} input(s) {names}; got "
                                  f"{len(inputs)}: call {how}")
        return list(inputs)

    def check_inputs(self, x, check_range=True):
        """The primary input ``x`` as a batch of the config's dtype, after refusing what the
        model cannot answer.

        Parameters
        ----------
        x : array_like
            A batch or one sample in the model's layout.
        check_range : bool
            Refuse floats far outside ``input_range`` (integer ids outside
            ``[low, high)`` are refused always).
        """
        x = self._as_array(x)
        if _fits(x.shape, self._sample_shape, self._free[0]):
            x = x[None]
        if not _fits(x.shape[1:], self._sample_shape, self._free[0]) or len(x) == 0:
            raise InputShapeError(self._shape_message(x.shape))
        if self.config.takes_floats:
            self._check_finite(x)
            if check_range:
                self._check_range(x, slack=RANGE_SLACK)
            return x.astype(np.float32, copy=False)
        self._check_range(x, slack=0.0)
        return x.astype(self.config.input_dtype, copy=False)

    def _check_extra(self, spec, x, single, check_range):
        """An extra input (decoder tokens, valid lengths, noise) checked like the primary one."""
        floats = spec.dtype.startswith("float")
        label = f"input '{spec.name}'"
        x = _numeric(x, floats, spec.dtype, f"{self.path.name} {label}")
        sample = tuple(spec.shape)
        free = self._free[self.config.input_names.index(spec.name)]
        if single and _fits(x.shape, sample, free):
            x = x[None]
        if x.ndim != len(sample) + 1 or not _fits(x.shape[1:], sample, free) or len(x) == 0:
            raise InputShapeError(
                f"{self.path.name} {label} takes shape (N{''.join(', ' + str(d) for d in sample)})"
                f" or one sample {sample}, like the primary input; got {x.shape}")
        if floats:
            bad = _bad_samples(~np.isfinite(x))
            if bad:
                raise NonFiniteError(f"{self.path.name} {label}: sample(s) {_listed(bad)} hold "
                                     f"NaN or Inf; fix or drop those samples")
        lo, hi = spec.value_range
        if floats and check_range:
            width = (hi - lo) * RANGE_SLACK
            bad = _bad_samples((x < lo - width) | (x > hi + width))
            allowed = f"[{lo:g}, {hi:g}]"
        elif not floats:
            bad = _bad_samples((x < lo) | (x >= hi))
            allowed = f"[{lo:g}, {hi:g}) (ids)"
        else:
            bad = []
        if bad:
            raise InputShapeError(f"{self.path.name} {label} takes values in {allowed}; "
                                  f"sample(s) {_listed(bad)} hold values from {x.min():g} to "
                                  f"{x.max():g}")
        return x.astype(np.float32 if floats else spec.dtype, copy=False)

    def _as_array(self, x):
        name = self.path.name if len(self._tensors) == 1 else \
            f"{self.path.name} input '{self.config.input_name}'"
        return _numeric(x, self.config.takes_floats, self.config.input_dtype, name)

    def _check_finite(self, x):
        bad = _bad_samples(~np.isfinite(x))
        if bad:
            raise NonFiniteError(f"{self.path.name}: input sample(s) {_listed(bad)} hold NaN or "
                                 f"Inf; the model cannot answer for them: fix or drop those "
                                 f"samples")

    def _check_range(self, x, slack):
        lo, hi = self.config.input_range
        width = (hi - lo) * slack
        if self.config.takes_floats:
            outside = (x < lo - width) | (x > hi + width)
            allowed = f"[{lo:g}, {hi:g}]"
        else:
            outside = (x < lo) | (x >= hi)
            allowed = f"[{lo:g}, {hi:g}) (ids)"
        bad = _bad_samples(outside)
        if bad:
            found = f"values from {x.min():g} to {x.max():g}"
            hint = (f"; 0..255 pixels? scale them to {allowed} first"
                    if self.config.takes_floats and hi <= 1 < x.max() <= 255 else "")
            raise InputShapeError(f"{self.path.name} takes inputs in {allowed}; sample(s) "
                                  f"{_listed(bad)} hold {found}{hint}")

    def _check_output(self, y):
        if y.dtype.kind not in "fc":
            return
        bad = _bad_samples(~np.isfinite(y))
        if bad:
            raise NonFiniteError(
                f"{self.path.name} ({self.backend}) returned NaN or Inf for sample(s) "
                f"{_listed(bad)}: its weights are damaged or overflow; re-export the model")

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

    def _run(self, feeds):
        n = feeds[self._feed_order[0]].shape[self._batch_axis]
        if self._batch is None or n == self._batch:
            outputs = self._session.run(feeds)
        elif self._batch == 1:
            parts = [self._session.run(self._sample(feeds, i)) for i in range(n)]
            outputs = [np.concatenate(p, axis=0) for p in zip(*parts)]
        else:
            raise InputShapeError(f"{self.path.name} takes batches of exactly {self._batch} "
                                  f"samples; got {n}")
        perms = self.metadata["artifact"].get("output_permutations") or [None] * len(outputs)
        results = []
        for position, perm in zip(self._output_order, perms):
            y = _dequantize(outputs[position], self._session.outputs[position])
            results.append(y if perm is None else np.transpose(y, perm))
        return results

    def _sample(self, feeds, i):
        primary = self._feed_order[0]
        return [np.take(x, [i], axis=self._batch_axis if k == primary else 0)
                for k, x in enumerate(feeds)]

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


def _fits(shape, sample, free):
    """Whether ``shape`` is ``sample``, any size on the ``free`` axes."""
    return len(shape) == len(sample) and all(
        i in free or s == e for i, (s, e) in enumerate(zip(shape, sample)))


def _bad_samples(mask):
    """Indices of the samples (first axis) where ``mask`` holds anywhere."""
    if mask.ndim == 0:
        return [0] if mask else []
    return np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1)).tolist()


def _listed(indices):
    shown = ", ".join(map(str, indices[:_MAX_LISTED]))
    return shown + (f" and {len(indices) - _MAX_LISTED} more" if len(indices) > _MAX_LISTED
                    else "")


def _numeric(x, floats, dtype_name, name):
    """``x`` as an array of a kind the input takes (numbers, or integer ids)."""
    try:
        x = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise InputShapeError(f"{name} takes numeric arrays; the input could not be read as "
                              f"one ({exc})") from None
    if x.dtype.kind not in ("biuf" if floats else "iu"):
        want = "numbers (float, int or bool)" if floats else f"integer ids ({dtype_name})"
        raise InputShapeError(f"{name} takes {want}; got an array of dtype "
                              f"{x.dtype}{_dtype_hint(x.dtype, floats)}")
    return x


def _dtype_hint(dtype, floats):
    if dtype.kind in "fb" and not floats:
        return "; pass the ids as integers (int32)"
    if dtype.kind in "US":
        return " (text); pass numbers"
    if dtype.kind == "O":
        return " (Python objects); pass a numeric array"
    if dtype.kind == "c":
        return " (complex); pass real numbers"
    return ""


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
    x : array_like, sequence or dict, optional
        One sample in the model's layout (for a multi-input model: one sample
        per input, as a list in :attr:`Predictor.input_names` order or a
        dict); default: mid-range constant inputs.
    runs, warmup : int

    Returns
    -------
    list of float
        One wall-clock time per run (take the median to compare models).
    """
    config = predictor.config
    if x is None:
        x = [_middle(spec) for spec in config.inputs]
    elif isinstance(x, dict):
        x = [x[name] for name in config.input_names]
    elif len(config.inputs) == 1:
        x = [x]
    inputs = [np.asarray(a)[:1] if np.ndim(a) > len(spec.shape) else np.asarray(a)
              for a, spec in zip(x, config.inputs)]
    for _ in range(warmup):
        predictor.predict(*inputs)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predictor.predict(*inputs)
        times.append(time.perf_counter() - start)
    return times


def _middle(spec):
    lo, hi = spec.value_range
    middle = (lo + hi) / 2 if spec.dtype.startswith("float") else (lo + hi) // 2
    return np.full(spec.shape, middle, dtype=spec.dtype)
