"""Machinery shared by the exporters: configs, staging, publishing, quiet tools."""
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from gluon_dl.config import ModelConfig
from gluon_dl.errors import ArgumentError
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
