"""Export a Gluon block as MXNet ``prefix-symbol.json`` + ``prefix-0000.params``.

Works for any hybridizable block and for the ``SymbolBlock`` that
``mx.contrib.quantization.quantize_net`` returns (an int8 model).
"""
import json
from pathlib import Path

from gluon_dl.errors import ArgumentError, ConversionError
from gluon_dl.utils.deps import require

from . import _pipeline
from ._registry import Converted, register_format
from ._trace import trace

SYMBOL_SUFFIX = "-symbol.json"


def export(net, path_prefix, *, config=None, precision=None, epoch=0, verify=True,
           verify_inputs=None):
    """Write ``prefix-symbol.json``, ``prefix-NNNN.params`` and the metadata sidecar.

    Parameters
    ----------
    net : mxnet.gluon.HybridBlock
        Hybridized and run once on ``config.inputs`` here if it never ran
        (blocks with deferred initialization only know their shapes after a
        forward).
    path_prefix : str or Path
        e.g. ``"artifacts/lenet5"`` -> ``artifacts/lenet5-symbol.json``.
    config : ModelConfig, optional
        Defaults to ``net.config``; required for a SymbolBlock.
    precision : str, optional
        ``"int8"`` quantizes a float block first (needs calibration, see
        :func:`deploy.export.export_all`); default: ``"int8"`` when the graph
        already holds quantize_net's operators, else ``"float32"``.
    epoch : int
        The NNNN of the params file.
    verify : bool
        Reload the files with the MXNet backend and compare with ``net``.
    verify_inputs : numpy.ndarray, list or dict, optional
        Normalized inputs (one array per input) for the check.

    Returns
    -------
    Path
        The ``-symbol.json`` file; its sidecar is that path + ``.json`` and
        records the SHA-256 of both files.

    Raises
    ------
    ArgumentError
        For a block without a config, a plain (non-hybrid) Block, or a bad
        ``epoch``.
    """
    require("mxnet", "cpu", "MXNet export")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= 9999:
        raise ArgumentError(f"epoch must be an integer from 0 to 9999 (the NNNN of the .params "
                            f"file), got {epoch!r}")
    prefix = Path(path_prefix)
    target = prefix.with_name(prefix.name + SYMBOL_SUFFIX)
    if precision is None:
        from ._common import resolve_config
        precision = _precision(trace(net, resolve_config(net, config)).symbol)
    return _pipeline.run("mxnet", net, {precision: target}, config=config, verify=verify,
                         verify_inputs=verify_inputs, epoch=epoch)[precision]


def _filename(stem, precision):
    return f"{stem}{SYMBOL_SUFFIX}" if precision == "float32" else \
        f"{stem}_{precision}{SYMBOL_SUFFIX}"


@register_format("mxnet", precisions=("float32", "int8"), filename=_filename)
def convert(job):
    """The MXNet format's conversion step: ``net.export`` (int8 through quantize_net first).

    A block already quantized by :func:`deploy.quantize.quantize_mxnet` is
    written as it is.
    """
    import mxnet as mx
    epoch = job.options.get("epoch", 0)
    out = {}
    for precision in job.targets:
        net = job.net
        if precision == "int8" and _precision(job.trace.symbol) != "int8":
            net = _quantized(job)
        sym = trace(net, job.config).symbol  # a first forward: export needs the graph
        staged = job.staged(precision)
        prefix = staged.name[:-len(SYMBOL_SUFFIX)]
        net.export(str(staged.parent / prefix), epoch=epoch)
        params = staged.with_name(f"{prefix}-{epoch:04d}.params")
        out[precision] = Converted(staged, dict(
            dynamic_batch=True, output_names=list(sym.list_outputs()),
            producer={"mxnet": mx.__version__}), companions=(params,))
    return out


def _quantized(job):
    from ..quantize import quantize_mxnet
    if job.calib is None:
        raise _pipeline.calibration_needed("mxnet", ["int8"], job.config)
    if len(job.config.inputs) != 1:
        raise ConversionError(f"MXNet int8 quantization (quantize_net) calibrates models with "
                              f"one input; '{job.config.name}' takes {job.config.input_names}: "
                              f"export it as float32, or int8 with the TFLite format")
    return quantize_mxnet(job.net, job.calib[0])


def traced_symbol(net, config):
    """The block's symbol and the name of its (first) input, after a first forward if needed."""
    traced = trace(net, config)
    return traced.symbol, traced.input_names[0]


def _precision(sym):
    # quantize_net inserts _contrib_quantize(_v2) and _contrib_quantized_* operators.
    ops = {node["op"] for node in json.loads(sym.tojson())["nodes"]}
    return "int8" if any(op.startswith("_contrib_quantize") for op in ops) else "float32"
