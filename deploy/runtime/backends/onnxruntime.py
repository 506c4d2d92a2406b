"""The onnxruntime backend for .onnx models (CPU execution provider)."""
import importlib
from pathlib import Path

from .._backends import Backend, Session, TensorSpec, check_file, load_error, register_backend

# onnxruntime's element type names -> numpy dtype names
_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16",
               "tensor(double)": "float64", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
               "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(bool)": "bool"}


class _ORTSession(Session):
    def __init__(self, session):
        self.session = session
        self.inputs = [_spec(t) for t in session.get_inputs()]
        self.outputs = [_spec(t) for t in session.get_outputs()]

    def run(self, feeds):
        return self.session.run(None, {spec.name: x for spec, x in zip(self.inputs, feeds)})


def _spec(node):
    shape = tuple(d if isinstance(d, int) and d > 0 else None for d in node.shape)
    return TensorSpec(name=node.name, shape=shape, dtype=_ORT_DTYPES.get(node.type, node.type))


@register_backend
class ONNXRuntimeBackend(Backend):
    """Microsoft onnxruntime on CPU."""

    name = "onnxruntime"
    suffixes = (".onnx",)
    format = "onnx"
    module = "onnxruntime"

    @classmethod
    def open(cls, path, num_threads=None):
        path = Path(path)
        check_file(path)
        ort = cls.import_module()
        # onnxruntime's pybind errors share no base class short of Exception.
        state = importlib.import_module("onnxruntime.capi.onnxruntime_pybind11_state")
        errors = (state.Fail, state.InvalidArgument, state.InvalidGraph, state.InvalidProtobuf,
                  state.NoSuchFile, state.NotImplemented, state.RuntimeException)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: no per-session warnings on stderr
        if num_threads:
            options.intra_op_num_threads = int(num_threads)
        try:
            session = ort.InferenceSession(str(path), sess_options=options,
                                           providers=["CPUExecutionProvider"])
        except errors as exc:
            raise load_error(path, cls.name, exc) from None
        return _ORTSession(session)
