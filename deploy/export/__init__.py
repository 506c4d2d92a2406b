"""Exporters: one module per format, all sharing one pipeline.

Built-in formats (each module registers itself with ``@register_format``):

- :mod:`deploy.export.mxnet`: ``prefix-symbol.json`` + ``prefix-0000.params``
  (float32, or int8 through MXNet's quantize_net)
- :mod:`deploy.export.onnx`: ``.onnx`` via mx2onnx, checked and simplified
- :mod:`deploy.export.tflite`: ``.tflite`` via onnx2tf; ``export_many`` writes
  float32, float16 and int8 from one conversion

The pipeline (:func:`export`, :func:`export_all`) traces the block on every
input of its config, runs the format's conversion step, writes the metadata
(:mod:`deploy.metadata`), ends with :func:`verify`, which runs each artifact
in its runtime and compares every output with the MXNet model, and publishes
the files atomically.  A new format is one module here (or anywhere, for a
plug-in) with a ``@register_format`` converter.  Heavy dependencies are
imported inside the functions, so importing this package costs nothing.
"""
from ._formats import FORMATS as _BUILT_IN  # noqa: F401  (imports and registers each format)
from ._pipeline import Job, artifact_files, export_all
from ._pipeline import run as export
from ._registry import (Converted, ExportFormat, get_format, list_formats, register_format,
                        unregister_format)
from ._trace import Trace, trace
from ._verify import TOLERANCES, VerifyResult, verify

# The built-in format modules (deploy.export.onnx, ...) are attributes once _formats ran.
__all__ = ["Converted", "ExportFormat", "Job", "TOLERANCES", "Trace", "VerifyResult",
           "artifact_files", "export", "export_all", "get_format", "list_formats",
           "register_format", "trace", "unregister_format", "verify"]
