"""Export a Gluon block to ONNX with MXNet's exporter (mx2onnx), checked and simplified.

mx2onnx stamps the installed onnx's newest opset on the model (20 with onnx
1.15) but emits opset-13 operators, and onnxruntime rejects some such graphs;
the model is re-stamped with the opset its operators follow (then converted to
the requested opset if that differs).  onnxsim then folds MXNet's many
Flatten/Reshape/constant nodes; that turned MXNet's LSTM/GRU graphs from
rejected into converted by onnx2tf.
"""
import contextlib
import json
import warnings
from pathlib import Path

import numpy as np

from gluon_dl.errors import ArgumentError, ConversionError
from gluon_dl.utils.deps import require

from ..metadata import (METADATA_KEY, build_metadata, onnx_graph_sha256, to_json,
                        write_sidecar)
from . import _common
from ._verify import verify as _verify
from .mxnet import traced_symbol

MXNET_OPSET = 13  # the newest opset mx2onnx (MXNet 1.9.1) writes converters for
BATCH_DIM = "N"  # name of the dynamic batch axis


def export(net, path, *, config=None, opset=MXNET_OPSET, simplify=True, dynamic_batch=True,
           verify=True, verify_inputs=None):
    """Write ``net`` as an ONNX model plus its metadata sidecar.

    Parameters
    ----------
    net : mxnet.gluon.HybridBlock
        Hybridized and run once here if it never ran.
    path : str or Path
        Output ``.onnx`` file; the metadata is embedded in its ``metadata_props``
        (key ``"gluon_dl"``, with the SHA-256 of the graph) and written to
        ``path + ".json"`` (with the SHA-256 of the whole file too).
    config : ModelConfig, optional
        Defaults to ``net.config``.
    opset : int
        ONNX opset of the result (13 is what mx2onnx writes; others go
        through onnx's version converter).
    simplify : bool
        Run onnxsim (recommended before onnx2tf).
    dynamic_batch : bool
        Leave the batch axis free (named ``"N"``) instead of fixing it to 1.
    verify : bool
        Run the file with onnxruntime and compare with ``net`` (atol 1e-4).
    verify_inputs : numpy.ndarray, optional
        Normalized inputs in the model's layout for the check.

    Returns
    -------
    Path

    Raises
    ------
    ArgumentError
        For a path that does not end in ``.onnx`` or a block without a config.
    ConversionError
        When an operator cannot be converted, the checker rejects the graph or
        onnxsim fails; the message names the operator/layer and the fix.
    VerificationError
        When onnxruntime's outputs differ from MXNet's.
    """
    mx = require("mxnet", "cpu", "ONNX export")
    onnx = require("onnx", "convert", "ONNX export")
    config = _common.resolve_config(net, config)
    path = Path(path)
    if path.suffix != ".onnx":
        raise ArgumentError(f"ONNX export path must end in .onnx (the runtime picks its "
                            f"backend by suffix), got {path}")
    sym, input_name = traced_symbol(net, config)
    _check_supported(sym, net)
    with _common.staging_dir(path) as stage:
        model = _mx2onnx(net, config, stage, dynamic_batch)
        model = _set_opset(model, opset, path)
        _check_model(model, path)
        if simplify:
            model = _simplify(model, path)
        meta = build_metadata(
            config, fmt="onnx", precision="float32", input_names=[model.graph.input[0].name],
            dynamic_batch=dynamic_batch, output_names=[o.name for o in model.graph.output],
            graph_sha256=graph_sha256(model),
            producer={"mxnet": mx.__version__, "onnx": onnx.__version__, "opset": opset})
        embed_metadata(model, meta)
        staged = stage / path.name
        onnx.save(model, str(staged))
        _check_graph_sha256(staged, meta)
        write_sidecar(staged, meta)
        if verify:
            inputs = verify_inputs if verify_inputs is not None else _common.default_inputs(config)
            _verify(staged, net, inputs, backend="onnxruntime")
        _common.publish(staged, path)
    return path


def embed_metadata(model, meta):
    """Put ``meta`` into ``model.metadata_props`` under ``"gluon_dl"`` (replacing any).

    The embedded copy cannot hold the SHA-256 of the file that contains it:
    its ``artifact.sha256`` is null and ``artifact.graph_sha256`` vouches for
    the graph instead.
    """
    artifact = dict(meta["artifact"], sha256=None, files={})
    keep = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, to_json(dict(meta, artifact=artifact))
    model.producer_name, model.producer_version = "gluon-dl", meta["producer"]["version"]


def graph_sha256(model):
    """The SHA-256 of ``model.graph`` as serialized in the file (see ``onnx_graph_sha256``)."""
    return onnx_graph_sha256(model.SerializeToString(), source="the exported ONNX model")


def _check_graph_sha256(path, meta):
    # Serializing again after embedding the metadata must not change the graph's bytes.
    if onnx_graph_sha256(path.read_bytes(), source=path) != meta["artifact"]["graph_sha256"]:
        raise ConversionError(f"{path}: the saved ONNX graph serializes differently from the "
                              f"one whose SHA-256 the metadata records; export again")


def _check_supported(sym, net):
    import mxnet as mx
    supported = set(mx.onnx.get_operator_support(MXNET_OPSET))
    nodes = json.loads(sym.tojson())["nodes"]
    missing = [f"{n['name']} ({n['op']})" for n in nodes
               if n["op"] != "null" and n["op"] not in supported]
    if missing:
        listed = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5
                                           else "")
        raise ConversionError(
            f"MXNet's ONNX exporter has no converter for the layers {listed} of "
            f"{type(net).__name__}; rewrite them with supported operators "
            f"(mx.onnx.get_operator_support()), e.g. quantized int8 MXNet models do not export "
            f"to ONNX: export the float model and quantize with the TFLite exporter")


def _mx2onnx(net, config, stage, dynamic_batch):
    """Run mx2onnx on the block's export; return the loaded ModelProto."""
    import mxnet as mx
    import onnx
    net.export(str(stage / "mxnet"))
    dtype = np.float32 if str(config.input_dtype).startswith("float") else np.dtype(
        config.input_dtype)
    try:
        with warnings.catch_warnings(), _onnx_believes_opset(MXNET_OPSET):
            # mx2onnx uses onnx.mapping, which onnx 1.15 deprecates on every call.
            warnings.simplefilter("ignore", DeprecationWarning)
            mx.onnx.export_model(
                str(stage / "mxnet-symbol.json"), str(stage / "mxnet-0000.params"),
                in_shapes=[config.batch_shape], in_types=[dtype],
                onnx_file_path=str(stage / "mxnet.onnx"), dynamic=dynamic_batch,
                dynamic_input_shapes=[(None,) + tuple(config.input_shape)] if dynamic_batch
                else None)
    except (AttributeError, NotImplementedError, ValueError, KeyError, TypeError,
            mx.MXNetError) as exc:
        raise ConversionError(
            f"MXNet's ONNX exporter failed on {type(net).__name__}: {exc}. Rewrite the layer it "
            f"names with exportable operators (explicit reshape sizes instead of -3/-4, "
            f"broadcasting instead of repeat)") from exc
    model = onnx.load(str(stage / "mxnet.onnx"))
    # mx2onnx lists every weight as a graph input too; keep the real inputs only.
    weights = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    if dynamic_batch:
        for value in list(model.graph.input) + list(model.graph.output):
            dims = value.type.tensor_type.shape.dim
            if dims and not dims[0].dim_value:
                dims[0].dim_param = BATCH_DIM
    return model


@contextlib.contextmanager
def _onnx_believes_opset(opset):
    """Make mx2onnx build and check its graph at ``opset`` rather than onnx's newest.

    mx2onnx reads ``onnx.defs.onnx_opset_version()`` and checks nodes against
    onnx's default context; at opset 20 its opset-13 ReduceMean (``axes`` as an
    attribute) of every LayerNorm is invalid and the export fails.
    """
    import onnx

    saved_version = onnx.defs.onnx_opset_version
    saved_imports = onnx.checker.DEFAULT_CONTEXT.opset_imports
    onnx.defs.onnx_opset_version = lambda: opset
    onnx.checker.DEFAULT_CONTEXT.opset_imports = {"": opset}
    try:
        yield
    finally:
        onnx.defs.onnx_opset_version = saved_version
        onnx.checker.DEFAULT_CONTEXT.opset_imports = saved_imports


def _set_opset(model, opset, path):
    import onnx
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = MXNET_OPSET
    if opset == MXNET_OPSET:
        return model
    try:
        return onnx.version_converter.convert_version(model, opset)
    except (RuntimeError, ValueError) as exc:
        raise ConversionError(f"{path}: cannot convert the opset-{MXNET_OPSET} graph to opset "
                              f"{opset} ({exc}); use opset={MXNET_OPSET}") from exc


def _check_model(model, path):
    import onnx
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ConversionError(f"{path}: the ONNX checker rejects the exported graph: "
                              f"{str(exc).strip().splitlines()[0]}; the message names the node; "
                              f"rewrite that layer or try another opset") from exc


def _simplify(model, path):
    onnxsim = require("onnxsim", "convert", "ONNX simplification (simplify=True)")
    try:
        with _common.quiet():
            simplified, ok = onnxsim.simplify(model)
    except (RuntimeError, ValueError) as exc:
        raise ConversionError(f"{path}: onnxsim failed ({exc}); export with simplify=False "
                              f"(onnx2tf may then reject the graph)") from exc
    if not ok:
        raise ConversionError(f"{path}: onnxsim's simplified graph gives other outputs than the "
                              f"original; export with simplify=False")
    return simplified
