"""Machinery shared by the exporters: configs, staging, publishing, quiet tools."""
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from gluon_dl.config import ModelConfig
from gluon_dl.errors import ArgumentError, InputShapeError, NonFiniteError
from gluon_dl.utils.io import atomic_output_path

from ..metadata import channels_last, sidecar_path  # noqa: F401 (tflite uses channels_last)


def resolve_config(net, config):
    """``config`` or the ``net.config`` that ``get_model`` attaches; one is needed."""
    config = config if config is not None else getattr(net, "config", None)
    if config is None:
        raise ArgumentError(
            f"{type(net).__name__} carries no ModelConfig (blocks from get_model do; a "
            f"SymbolBlock, e.g. from quantize_net, does not): pass config=get_config('<name>')")
    if not isinstance(config, ModelConfig):
        raise ArgumentError(f"config must be a ModelConfig, got {type(config).__name__}; build "
                            f"one with gluon_dl.models.get_config('<name>') or ModelConfig(...)")
    return config


@contextlib.contextmanager
def staging_dir(target):
    """A temporary directory beside ``target``, removed on exit.

    Exporters build and verify every file here and only then publish it, so a
    failure leaves an earlier good artifact untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as tmp:
        yield Path(tmp)


def publish(staged, target, with_sidecar=True):
    """Move the staged artifact (and its sidecar) onto ``target`` atomically."""
    pairs = [(Path(staged), Path(target))]
    if with_sidecar:
        pairs.append((sidecar_path(staged), sidecar_path(target)))
    for src, dst in pairs:
        with atomic_output_path(dst) as tmp:
            shutil.move(str(src), str(tmp))
    return Path(target)


# Networks whose ONNX file has at least this many bytes get Python's and glibc's free
# memory released between conversion steps (a collection costs ~0.2 s once TensorFlow is
# loaded; small networks leave nothing worth it).
RELEASE_ABOVE = 64 << 20


def is_big(path):
    """Whether the file at ``path`` is large enough for :func:`release_memory` to pay."""
    return Path(path).stat().st_size >= RELEASE_ABOVE


def release_memory():
    """Free what a big conversion left behind: Python's cycles, then glibc's free heap.

    TensorFlow's converter leaves copies of the weights in reference cycles and
    the heap it freed mapped; without this the next conversion of a network the
    size of VGG-16 starts gigabytes higher.  The trim is skipped where the C
    library has no ``malloc_trim`` (not glibc).
    """
    import ctypes
    import gc
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def default_inputs(config, n=8, seed=0):
    """``n`` normalized inputs in the model's layout, for verification.

    Smooth random images (a few Gaussian blobs each) rather than white noise,
    so quantized models see activations like real images give.
    """
    rng = np.random.RandomState(seed)
    shape = tuple(config.input_shape)
    lo, hi = config.input_range
    if not str(config.input_dtype).startswith("float"):
        return rng.randint(int(lo), int(hi), size=(n,) + shape).astype(config.input_dtype)
    raw = rng.uniform(0.0, 0.15, size=(n,) + shape).astype(np.float32)
    if len(shape) == 3 and config.layout == "NCHW":
        h, w = shape[1:]
        yy, xx = np.mgrid[0:h, 0:w]
        for img in raw:
            for _ in range(3):
                cy, cx, s = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(1.5, max(2.0, h / 5))
                img += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))[None]
    raw = lo + (hi - lo) * np.clip(raw, 0.0, 1.0)
    return config.normalize(raw)


def sample_inputs(config, n=8, seed=0):
    """``n`` normalized samples of every input of ``config``, in ``config.inputs`` order.

    The primary input comes from :func:`default_inputs`; extra inputs are
    drawn uniformly from their value range (token ids, valid lengths, noise).
    """
    rng = np.random.RandomState(seed + 1)
    arrays = [default_inputs(config, n=n, seed=seed)]
    for spec in config.extra_inputs:
        lo, hi = spec.value_range
        size = (n,) + tuple(spec.shape)
        if spec.dtype.startswith("float"):
            arrays.append(rng.uniform(lo, hi, size=size).astype(spec.dtype))
        else:
            arrays.append(rng.randint(int(lo), int(hi), size=size).astype(spec.dtype))
    return arrays


def as_input_list(inputs, config, what="inputs"):
    """``inputs`` (one array, a sequence in ``config.inputs`` order, or ``{name: array}``) as a list.

    Raises
    ------
    InputShapeError
        For another number of inputs than the config has, or unknown names.
    """
    names = config.input_names
    if isinstance(inputs, dict):
        unknown = sorted(set(inputs) - set(names))
        missing = [n for n in names if n not in inputs]
        if unknown or missing:
            raise InputShapeError(f"{what} of '{config.name}' are named {names}; got "
                                  f"{sorted(inputs)} (missing {missing}, unknown {unknown})")
        return [np.asarray(inputs[n]) for n in names]
    if isinstance(inputs, (list, tuple)):
        if len(inputs) != len(names):
            raise InputShapeError(f"'{config.name}' takes {len(names)} inputs {names}; {what} "
                                  f"hold {len(inputs)}")
        return [np.asarray(x) for x in inputs]
    if len(names) != 1:
        raise InputShapeError(f"'{config.name}' takes {len(names)} inputs {names}; pass {what} "
                              f"as a list in that order or a dict by name, not one array")
    return [np.asarray(inputs)]


def check_calib(calib_data, config):
    """Calibration inputs as a list of arrays, one per input, refusing nonsense.

    Messages say ``calib_data`` and the expected ``(N, ...)`` shape of the
    input at fault.
    """
    arrays = as_input_list(calib_data, config, "calib_data")
    checked = []
    for spec, calib in zip(config.inputs, arrays):
        label = "calib_data" if len(arrays) == 1 else f"calib_data['{spec.name}']"
        if calib.dtype.kind not in "biuf":
            raise InputShapeError(f"{label} must be a numeric array of normalized inputs; got "
                                  f"dtype {calib.dtype}")
        sample = tuple(spec.shape)
        layout = f" in layout {config.layout}" if spec.name == config.input_name else ""
        if calib.ndim != len(sample) + 1 or calib.shape[1:] != sample or len(calib) == 0:
            raise InputShapeError(
                f"{label} must be normalized inputs shaped "
                f"(N{''.join(', ' + str(d) for d in sample)}){layout}; got {calib.shape}")
        if len(calib) != len(arrays[0]):
            raise InputShapeError(f"{label} holds {len(calib)} samples, the first input "
                                  f"{len(arrays[0])}; give every input the same samples")
        if calib.dtype.kind == "f" and not np.isfinite(calib).all():
            bad = np.flatnonzero(~np.isfinite(calib.reshape(len(calib), -1)).all(axis=1))
            raise NonFiniteError(f"{label} samples {bad[:8].tolist()} hold NaN or Inf; int8 "
                                 f"ranges calibrated on them would be meaningless: drop them")
        dtype = np.float32 if spec.dtype.startswith("float") else spec.dtype
        checked.append(calib.astype(dtype, copy=False))
    return checked


class Captured:
    """Text a tool printed while :func:`quiet` was active."""

    text = ""

    def tail(self, lines=15):
        return "\n".join(self.text.strip().splitlines()[-lines:])


@contextlib.contextmanager
def quiet():
    """Send everything written to stdout/stderr, C++ logs included, to a buffer.

    onnx2tf and TensorFlow print pages even when asked not to; the text is kept
    (``captured.text``) so that errors can quote it.
    """
    captured = Captured()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stdout(_FdText(1)), contextlib.redirect_stderr(_FdText(2)):
                yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", errors="replace")


class _FdText:
    """A text stream writing straight to a file descriptor.

    Python-level prints go here even when sys.stdout was replaced (pytest's
    capture, notebooks), so they land in :func:`quiet`'s buffer too.
    """

    def __init__(self, fd):
        self.fd = fd

    def write(self, text):
        os.write(self.fd, text.encode("utf-8", errors="replace"))
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False
