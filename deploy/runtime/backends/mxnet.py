"""The MXNet backend for ``prefix-symbol.json`` + ``prefix-NNNN.params`` exports.

Not an edge runtime: it lets :func:`deploy.runtime.load` (and so the exporters'
shared ``verify``) run MXNet exports, int8 ones from ``quantize_net``
included, through the same Predictor as TFLite and ONNX models.
"""
import warnings
from pathlib import Path

import numpy as np

from gluon_dl.errors import ModelFileError

from .._backends import Backend, Session, TensorSpec, check_file, load_error, register_backend

SYMBOL_SUFFIX = "-symbol.json"


def params_path(symbol_path):
    """The newest ``prefix-NNNN.params`` beside ``prefix-symbol.json``."""
    symbol_path = Path(symbol_path)
    prefix = symbol_path.name[:-len(SYMBOL_SUFFIX)]
    candidates = sorted(symbol_path.parent.glob(f"{prefix}-[0-9][0-9][0-9][0-9].params"))
    if not candidates:
        raise ModelFileError(f"{symbol_path} has no parameter file {prefix}-0000.params beside "
                             f"it; copy it there or re-export the model")
    return candidates[-1]


class _MXNetSession(Session):
    def __init__(self, block, input_names, output_names):
        self.block = block
        self.inputs = [TensorSpec(name=n, shape=(), dtype="float32") for n in input_names]
        self.outputs = [TensorSpec(name=n, shape=(), dtype="float32") for n in output_names]
        self._buffers = {}  # input index -> the NDArray its values are copied into

    def _feed(self, index, x):
        """``x`` in the input's reused NDArray (one copy; a new one for a new shape/dtype).

        ``mx.nd.array`` costs ~55 us per call beyond the copy itself (15% of a LeNet-5
        batch of one). Writing waits for the previous call's reads of the buffer.
        """
        import mxnet as mx
        buffer = self._buffers.get(index)
        if buffer is None or buffer.shape != x.shape or buffer.dtype != x.dtype:
            buffer = self._buffers[index] = mx.nd.empty(x.shape, dtype=x.dtype)
        buffer._sync_copyfrom(x)
        return buffer

    def run(self, feeds):
        out = self.block(*[self._feed(i, np.ascontiguousarray(x)) for i, x in enumerate(feeds)])
        outs = out if isinstance(out, (list, tuple)) else [out]
        return [o.asnumpy() for o in outs]


@register_backend
class MXNetBackend(Backend):
    """MXNet's SymbolBlock on CPU."""

    name = "mxnet"
    suffixes = (SYMBOL_SUFFIX,)
    format = "mxnet"
    module = "mxnet"
    extra = "cpu"

    @classmethod
    def companions(cls, path):
        return (params_path(path),)

    @classmethod
    def open(cls, path, num_threads=None):
        path = Path(path)
        check_file(path)
        params = params_path(path)
        mx = cls.import_module()
        try:
            sym = mx.sym.load(str(path))
            saved = mx.nd.load(str(params))
            names = {k.split(":", 1)[-1] for k in saved}
            inputs = [n for n in sym.list_inputs() if n not in names]
            with warnings.catch_warnings():
                # SymbolBlock warns that the input's dtype is unknown; it is float32.
                warnings.filterwarnings("ignore", "Cannot decide type", UserWarning)
                block = mx.gluon.SymbolBlock(sym, [mx.sym.var(n) for n in inputs])
            block.collect_params().load(str(params), ctx=mx.cpu(), cast_dtype=True,
                                      dtype_source="saved")
        except (mx.MXNetError, ValueError, AssertionError) as exc:
            raise load_error(path, cls.name, exc) from None
        # one cached graph instead of an imperative call per operator, its memory planned
        # once (an int8 graph without static_alloc ran 25-35% slower at batch 32)
        block.hybridize(static_alloc=True, static_shape=True)
        return _MXNetSession(block, inputs, sym.list_outputs())
