"""TFLite backends: ai-edge-litert (preferred) and tflite-runtime (fallback)."""
from pathlib import Path

import numpy as np

from .._backends import Backend, Session, TensorSpec, check_file, load_error, register_backend
from .._stderr import native_info_filtered
from .._tflite_check import check_tflite


class _TFLiteSession(Session):
    """One TFLite interpreter; resizes a dynamic batch axis on demand."""

    def __init__(self, interpreter):
        self.interpreter = interpreter
        self._in = interpreter.get_input_details()
        self._out = interpreter.get_output_details()
        self.inputs = [_spec(d) for d in self._in]
        self.outputs = [_spec(d) for d in self._out]

    def run(self, feeds):
        if any(tuple(d["shape"]) != x.shape for d, x in zip(self._in, feeds)):
            # Only a dynamic batch axis gets here: the predictor checks the rest.
            for detail, x in zip(self._in, feeds):
                self.interpreter.resize_tensor_input(detail["index"], list(x.shape))
            self.interpreter.allocate_tensors()
            self._in = self.interpreter.get_input_details()
            self._out = self.interpreter.get_output_details()
        for detail, x in zip(self._in, feeds):
            self.interpreter.set_tensor(detail["index"], x)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(d["index"]).copy() for d in self._out]


def _spec(detail):
    signature = detail.get("shape_signature", detail["shape"])
    shape = tuple(None if s < 0 else int(s) for s in signature)
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return TensorSpec(name=detail["name"], shape=shape, dtype=np.dtype(detail["dtype"]).name,
                      scale=float(scale), zero_point=int(zero_point))


class _TFLiteBackend(Backend):
    suffixes = (".tflite",)
    format = "tflite"

    @classmethod
    def open(cls, path, num_threads=None):
        path = Path(path)
        check_file(path)
        data = path.read_bytes()
        try:
            check_tflite(data)  # tflite-runtime segfaults on truncated files
        except ValueError as exc:
            raise load_error(path, cls.name, exc) from None
        interpreter_cls = cls.import_module().Interpreter
        try:
            with native_info_filtered():
                interpreter = interpreter_cls(model_content=data, num_threads=num_threads)
                interpreter.allocate_tensors()
        except (ValueError, RuntimeError, UnicodeDecodeError) as exc:
            raise load_error(path, cls.name, exc) from None
        return _TFLiteSession(interpreter)


@register_backend
class LiteRTBackend(_TFLiteBackend):
    """Google's ai-edge-litert, the successor of tflite-runtime."""

    name = "litert"
    module = "ai_edge_litert.interpreter"


@register_backend
class TFLiteRuntimeBackend(_TFLiteBackend):
    """The standalone tflite-runtime interpreter."""

    name = "tflite-runtime"
    module = "tflite_runtime.interpreter"
