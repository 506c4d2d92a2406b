"""Exporters: one module per format, each ``export(net, path, ...) -> Path``.

- :mod:`deploy.export.mxnet`: ``prefix-symbol.json`` + ``prefix-0000.params``
- :mod:`deploy.export.onnx`: ``.onnx`` via mx2onnx, checked and simplified
- :mod:`deploy.export.tflite`: ``.tflite`` via onnx2tf; ``export_many`` writes
  float32, float16 and int8 from one conversion

Every exporter writes the metadata sidecar (:mod:`deploy.metadata`) and ends
with :func:`verify`, which runs the artifact in its runtime and compares with
the MXNet model.  Heavy dependencies are imported inside the functions, so
importing this package costs nothing.
"""
from . import mxnet, onnx, tflite
from ._verify import TOLERANCES, VerifyResult, verify

__all__ = ["TOLERANCES", "VerifyResult", "mxnet", "onnx", "tflite", "verify"]
