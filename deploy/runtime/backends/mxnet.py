"""The MXNet backend for ``prefix-symbol.json`` + ``prefix-NNNN.params`` exports.

Not an edge runtime: it lets :func:`deploy.runtime.load` (and so the exporters'
shared ``verify``) run MXNet exports, int8 ones from ``quantize_net``
included, through the same Predictor as TFLite and ONNX models.
"""
import warnings
from pathlib import Path

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

    def run(self, feeds):
        import mxnet as mx
        out = self.block(*[mx.nd.array(x, dtype=x.dtype) for x in feeds])
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
