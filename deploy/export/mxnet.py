"""Export a Gluon block as MXNet ``prefix-symbol.json`` + ``prefix-0000.params``.

Works for any hybridizable block and for the ``SymbolBlock`` that
``mx.contrib.quantization.quantize_net`` returns (an int8 model).
"""
import json
from pathlib import Path

import numpy as np

from gluon_dl.errors import ArgumentError, ConversionError
from gluon_dl.utils.deps import require

from ..metadata import build_metadata, write_sidecar
from . import _common
from ._verify import verify as _verify

SYMBOL_SUFFIX = "-symbol.json"


def export(net, path_prefix, *, config=None, precision=None, epoch=0, verify=True,
           verify_inputs=None):
    """Write ``prefix-symbol.json``, ``prefix-NNNN.params`` and the metadata sidecar.

    Parameters
    ----------
    net : mxnet.gluon.HybridBlock
        Hybridized and run once on a zero batch here if it never ran (blocks
        with deferred initialization only know their shapes after a forward).
    path_prefix : str or Path
        e.g. ``"artifacts/lenet5"`` -> ``artifacts/lenet5-symbol.json``.
    config : ModelConfig, optional
        Defaults to ``net.config``; required for a SymbolBlock.
    precision : str, optional
        Recorded in the metadata; default: ``"int8"`` when the graph holds
        quantize_net's operators, else ``"float32"``.
    epoch : int
        The NNNN of the params file.
    verify : bool
        Reload the files with the MXNet backend and compare with ``net``.
    verify_inputs : numpy.ndarray, optional
        Normalized inputs in the model's layout for the check.

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
    ConversionError
        For a block with several inputs.
    """
    mx = require("mxnet", "cpu", "MXNet export")
    config = _common.resolve_config(net, config)
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= 9999:
        raise ArgumentError(f"epoch must be an integer from 0 to 9999 (the NNNN of the .params "
                            f"file), got {epoch!r}")
    prefix = Path(path_prefix)
    target = prefix.with_name(prefix.name + SYMBOL_SUFFIX)
    params_target = prefix.with_name(f"{prefix.name}-{epoch:04d}.params")
    sym, input_name = traced_symbol(net, config)
    with _common.staging_dir(target) as stage:
        net.export(str(stage / prefix.name), epoch=epoch)
        staged = stage / target.name
        meta = build_metadata(config, fmt="mxnet", precision=precision or _precision(sym),
                              input_names=[input_name], dynamic_batch=True,
                              output_names=sym.list_outputs(), producer={"mxnet": mx.__version__})
        write_sidecar(staged, meta, companions=[stage / params_target.name])
        if verify:
            inputs = verify_inputs if verify_inputs is not None else _common.default_inputs(config)
            _verify(staged, net, inputs)
        _common.publish(stage / params_target.name, params_target, with_sidecar=False)
        _common.publish(staged, target)
    return target


def traced_symbol(net, config):
    """The block's symbol and input name, after a first forward if it never ran."""
    import mxnet as mx
    if getattr(net, "_cached_op", None) is None:
        if not isinstance(net, mx.gluon.SymbolBlock) and not net._active:
            net.hybridize()
        net(mx.nd.zeros(config.batch_shape, dtype=_mx_dtype(config)))
    if not getattr(net, "_cached_graph", None):
        raise ArgumentError(f"{type(net).__name__} did not build a graph: export needs a "
                            f"HybridBlock (a plain Block cannot be exported)")
    inputs, sym = net._cached_graph
    names = [s.name for s in inputs]
    if len(names) != 1:
        raise ConversionError(f"{type(net).__name__} takes inputs {names}; exporters handle "
                              f"models with one input")
    return sym, names[0]


def _precision(sym):
    # quantize_net inserts _contrib_quantize(_v2) and _contrib_quantized_* operators.
    ops = {node["op"] for node in json.loads(sym.tojson())["nodes"]}
    return "int8" if any(op.startswith("_contrib_quantize") for op in ops) else "float32"


def _mx_dtype(config):
    return "float32" if str(config.input_dtype).startswith("float") else np.dtype(
        config.input_dtype).name
