"""The edge runtime: run exported models with nothing but numpy and a runtime library.

>>> from deploy.runtime import load
>>> predictor = load("artifacts/lenet5_int8.tflite")      # picks ai-edge-litert if installed
>>> predictor.predict(images)                               # raw NCHW floats in [0, 1]
>>> predictor.predict_labels(images)

Backends ("litert", "tflite-runtime" for .tflite, "onnxruntime" for .onnx and
"mxnet" for ``-symbol.json`` exports) import their library only when they open
a model, so importing this package imports numpy and nothing else heavy.  A new
backend is one module of :mod:`deploy.runtime.backends` that defines it with
``@register_backend``; the package imports every module it holds.
"""
from . import backends  # noqa: F401  (imports every backend module: their decorators run)
from ._backends import (Backend, Session, TensorSpec, available_backends, list_backends,
                        register_backend, select_backend)
from ._predictor import Predictor, benchmark_latency, load

__all__ = ["Backend", "Predictor", "Session", "TensorSpec", "available_backends",
           "benchmark_latency", "list_backends", "load", "register_backend", "select_backend"]
