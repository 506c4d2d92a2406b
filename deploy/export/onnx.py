"""Export a Gluon block to ONNX with MXNet's exporter (mx2onnx), checked and simplified.

mx2onnx stamps the installed onnx's newest opset on the model (20 with onnx
1.15) but emits opset-13 operators, and onnxruntime rejects some such graphs;
the model is re-stamped with the opset its operators follow (then converted to
the requested opset if that differs).  onnxsim then folds MXNet's many
Flatten/Reshape/constant nodes; that turned MXNet's LSTM/GRU graphs from
rejected into converted by onnx2tf.

Every input of the model's config becomes a graph input (name, dtype and
shape from ``config.inputs``; the batch axis and the sequence axis of token
inputs are free), and the outputs keep the MXNet model's order and names.

Models are written with :mod:`._protowrite` and checked, simplified and run
from their files: protobuf's ``SerializeToString`` needs 4.5 times a model's
size while it runs, and each in-memory hand-over (to the checker, to onnxsim,
to onnxruntime) serialized the whole model once more.
"""
import contextlib
import hashlib
import warnings
from pathlib import Path

import numpy as np

from gluon_dl.errors import ArgumentError, ArgumentTypeError, ConversionError
from gluon_dl.utils.deps import require
from gluon_dl.utils.io import atomic_output_path

from ..metadata import METADATA_KEY, onnx_graph_sha256, to_json
from . import _common, _pipeline, _protowrite
from ._registry import Converted, register_format
from ._trace import blame

MXNET_OPSET = 13  # the newest opset mx2onnx (MXNet 1.9.1) writes converters for
BATCH_DIM = "N"  # name of the dynamic batch axis
SEQUENCE_DIM = "T"  # name of the primary input's dynamic sequence axis


def export(net, path, *, config=None, opset=MXNET_OPSET, simplify=True, dynamic_batch=True,
           dynamic_sequence=True, verify=True, verify_inputs=None):
    """Write ``net`` as an ONNX model plus its metadata sidecar.

    Parameters
    ----------
    net : mxnet.gluon.HybridBlock
        Hybridized and run once here on ``config.inputs`` if it never ran.
    path : str or Path
        Output ``.onnx`` file; the metadata is embedded in its ``metadata_props``
        (key ``"gluon_dl"``, with the SHA-256 of the graph) and written to
        ``path + ".json"`` (with the SHA-256 of the whole file too).
    config : ModelConfig, optional
        Defaults to ``net.config``.  Every input of ``config.inputs`` becomes
        a graph input of that name, shape and dtype, in that order; outputs
        keep the MXNet model's order and names.
    opset : int
        ONNX opset of the result (13 is what mx2onnx writes; others go
        through onnx's version converter).
    simplify : bool
        Run onnxsim (recommended before onnx2tf).
    dynamic_batch : bool
        Leave the batch axis free (named ``"N"``) instead of fixing it to 1.
    dynamic_sequence : bool
        Leave the sequence axis of token inputs free (see :func:`sequence_axes`).
    verify : bool
        Run the file with onnxruntime and compare every output with ``net``.
    verify_inputs : numpy.ndarray, list or dict, optional
        Normalized inputs (one array per input) for the check.

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
    path = Path(path)
    if path.suffix != ".onnx":
        raise ArgumentError(f"ONNX export path must end in .onnx (the runtime picks its "
                            f"backend by suffix), got {path}")
    return _pipeline.run("onnx", net, {"float32": path}, config=config, verify=verify,
                         verify_inputs=verify_inputs, opset=opset, simplify=simplify,
                         dynamic_batch=dynamic_batch, dynamic_sequence=dynamic_sequence)["float32"]


@register_format("onnx", precisions=("float32",), suffix=".onnx")
def convert(job):
    """The ONNX format's conversion step (see :func:`export` for the options)."""
    options = dict(job.options)
    path = job.staged("float32")
    model = to_onnx(job.net, job.config, job.trace, job.stage / "mx2onnx", path, **options)
    fields = _fields(model, job.config, options.get("opset", MXNET_OPSET),
                     options.get("dynamic_batch", True))
    save_model(model, path)
    return {"float32": Converted(path, fields, embed=_embed_file)}


def to_onnx(net, config, traced, work, path, *, opset=MXNET_OPSET, simplify=True,
            dynamic_batch=True, dynamic_sequence=True):
    """The checked (and simplified) ModelProto of a traced block; ``path`` names it in errors."""
    require("mxnet", "cpu", "ONNX export")
    require("onnx", "convert", "ONNX export")
    _check_supported(traced, net)
    work.mkdir(parents=True, exist_ok=True)
    model = _mx2onnx(net, config, traced, work, dynamic_batch, dynamic_sequence)
    model = _set_opset(model, opset, path)
    checked = work / "mx2onnx-checked.onnx"
    save_model(model, checked)
    big = _common.is_big(checked)
    if simplify:
        del model  # onnxsim reads the file; the weights are not held twice
        if big:
            _common.release_memory()
    _check_model(checked, path)
    if not simplify:
        return model
    simplified = _simplify(checked, work, path)
    if big:
        _common.release_memory()
    import onnx
    return onnx.load(str(simplified))


def save_model(model, path):
    """Write the ONNX ``model`` to ``path``; the path.

    Piece by piece (:mod:`._protowrite`: no whole-model buffer), to a
    temporary file renamed onto ``path`` when complete, so a failure leaves
    an existing file as it was.

    Raises
    ------
    ArgumentTypeError
        When ``model`` is not an ``onnx.ModelProto``.
    """
    onnx = require("onnx", "convert", "ONNX export")
    if not isinstance(model, onnx.ModelProto):
        raise ArgumentTypeError(f"save_model writes an onnx.ModelProto, got "
                                f"{type(model).__name__}")
    with atomic_output_path(path) as staged:
        _protowrite.save_message(model, staged)
    return Path(path)


def sequence_axes(config):
    """``{input name: {axis: dim name}}`` of the axes ONNX leaves free besides the batch.

    The ``"T"`` axis of the primary input's layout is the sequence length;
    an integer extra input whose first axis has that length (a decoder's
    tokens, segment ids) gets its own free axis ``"T_<name>"``, since source
    and target lengths may differ.  Models without a ``"T"`` axis get none.
    """
    if "T" not in config.layout:
        return {}
    axis = config.layout.index("T")
    length = config.input_shape[axis - 1]
    axes = {config.input_name: {axis: SEQUENCE_DIM}}
    for spec in config.extra_inputs:
        if not spec.dtype.startswith("float") and spec.shape[:1] == (length,):
            axes[spec.name] = {1: f"{SEQUENCE_DIM}_{spec.name}"}
    return axes


def _fields(model, config, opset, dynamic_batch):
    import mxnet as mx
    import onnx
    shapes = [[d.dim_value or None for d in value.type.tensor_type.shape.dim]
              for value in model.graph.input]
    return dict(input_names=[i.name for i in model.graph.input], dynamic_batch=dynamic_batch,
                output_names=[o.name for o in model.graph.output], input_shapes=shapes,
                graph_sha256=graph_sha256(model),
                producer={"mxnet": mx.__version__, "onnx": onnx.__version__, "opset": opset})


def _embed_file(path, meta):
    import onnx
    model = onnx.load(str(path))
    embed_metadata(model, meta)
    save_model(model, path)
    del model
    _check_graph_sha256(path, meta)


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
    """The SHA-256 of ``model.graph`` as :func:`save_model` writes it (``onnx_graph_sha256``)."""
    digest = hashlib.sha256()
    _protowrite.write_message(model.graph, digest.update)
    return digest.hexdigest()


def _check_graph_sha256(path, meta):
    # Serializing again after embedding the metadata must not change the graph's bytes.
    if onnx_graph_sha256(path.read_bytes(), source=path) != meta["artifact"]["graph_sha256"]:
        raise ConversionError(f"{path}: the saved ONNX graph serializes differently from the "
                              f"one whose SHA-256 the metadata records; export again")


def _check_supported(traced, net):
    import mxnet as mx
    supported = set(mx.onnx.get_operator_support(MXNET_OPSET))
    missing = [f"{name} ({op})" for name, op in traced.operators if op not in supported]
    if missing:
        listed = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5
                                           else "")
        raise ConversionError(
            f"MXNet's ONNX exporter has no converter for the layers {listed} of "
            f"{type(net).__name__}; rewrite them with supported operators "
            f"(mx.onnx.get_operator_support()), e.g. quantized int8 MXNet models do not export "
            f"to ONNX: export the float model and quantize with the TFLite exporter")


def _mx2onnx(net, config, traced, stage, dynamic_batch, dynamic_sequence):
    """Run mx2onnx on the block's export; the ModelProto with MXNet's inputs and outputs."""
    import mxnet as mx
    net.export(str(stage / "mxnet"))
    specs = _in_symbol_order(config.inputs, traced.symbol)
    free = sequence_axes(config) if dynamic_sequence else {}
    dynamic = [tuple(None if i == 0 or i in free.get(s.name, {}) else d
                     for i, d in enumerate((1,) + tuple(s.shape))) for s in specs]
    try:
        # quiet(): on failure mx2onnx prints every parameter's shape.
        with warnings.catch_warnings(), _onnx_believes_opset(MXNET_OPSET), \
                _weights_as_bytes(), _common.quiet():
            # mx2onnx uses onnx.mapping, which onnx 1.15 deprecates on every call.
            warnings.simplefilter("ignore", DeprecationWarning)
            model = _export_model(
                str(stage / "mxnet-symbol.json"), str(stage / "mxnet-0000.params"),
                in_shapes=[(1,) + tuple(s.shape) for s in specs],
                in_types=[np.dtype(s.dtype) for s in specs], dynamic=dynamic_batch or bool(free),
                dynamic_input_shapes=dynamic if (dynamic_batch or free) else None)
    except (AttributeError, NotImplementedError, ValueError, KeyError, TypeError, IndexError,
            mx.MXNetError) as exc:
        raise blame(exc, net, "MXNet's ONNX exporter on", traced) from exc
    _keep_real_inputs(model, config.input_names)
    _restore_outputs(model, traced.output_names, net)
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        if dynamic_batch and dims:
            dims[0].dim_param = BATCH_DIM
        for axis, name in free.get(value.name, {}).items():
            dims[axis].dim_param = name
    if dynamic_batch:
        for value in model.graph.output:
            dims = value.type.tensor_type.shape.dim
            if dims and not dims[0].dim_value:
                dims[0].dim_param = BATCH_DIM
    return model


def _export_model(symbol_file, params_file, in_shapes, in_types, dynamic,
                  dynamic_input_shapes):
    """``mx.onnx.export_model`` without its file: the ModelProto it would have written.

    mx2onnx serializes the model in one piece to write it (4.5 times the
    model's size in memory) and the file was read back at once.
    """
    import onnx
    from mxnet.onnx.mx2onnx._export_helper import load_module
    from mxnet.onnx.mx2onnx._export_onnx import MXNetGraph

    symbol, params = load_module(symbol_file, params_file)
    check_graph = onnx.checker.check_graph
    # mx2onnx ends by checking its graph, which serializes it whole; to_onnx runs
    # onnx's full check on the saved model instead (the same checks and more).
    onnx.checker.check_graph = lambda graph, ctx=None: None
    try:
        graph = MXNetGraph().create_onnx_graph_proto(
            symbol, params, in_shapes, [onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[t] for t in in_types],
            verbose=False, opset_version=onnx.defs.onnx_opset_version(), dynamic=dynamic,
            dynamic_input_shapes=dynamic_input_shapes)
    finally:
        onnx.checker.check_graph = check_graph
    del params
    return onnx.helper.make_model(graph)


def _in_symbol_order(specs, symbol):
    """``specs`` in the order mx2onnx pairs ``in_shapes`` with inputs: ``symbol.list_inputs()``.

    That is the graph's traversal order, not the call order (a decoder's
    tokens may come after the source lengths); shapes in call order would
    give one input another's shape.
    """
    order = {name: i for i, name in enumerate(symbol.list_inputs())}
    return sorted(specs, key=lambda spec: order.get(spec.name, len(order)))


def _keep_real_inputs(model, names):
    """Drop the weights mx2onnx lists as graph inputs; order the rest as the config does."""
    by_name = {i.name: i for i in model.graph.input}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ConversionError(f"MXNet's ONNX exporter dropped the inputs {missing}; the model "
                              f"does not use them: remove them from its config")
    inputs = [by_name[n] for n in names]
    del model.graph.input[:]
    model.graph.input.extend(inputs)


def _restore_outputs(model, mx_names, net):
    """Give the graph outputs MXNet's names and order (mx2onnx drops "_output", reorders)."""
    by_name = {o.name: o for o in model.graph.output}
    order = []
    for mx_name in mx_names:
        onnx_name = mx_name[:-len("_output")] if mx_name.endswith("_output") else mx_name
        name = mx_name if mx_name in by_name else onnx_name
        if name not in by_name:
            raise ConversionError(
                f"the ONNX graph of {type(net).__name__} has the outputs {sorted(by_name)}, "
                f"none of them MXNet's output {mx_name}; export with simplify=False or report "
                f"the layer that makes it")
        order.append((by_name[name], mx_name))
    for value, mx_name in order:
        _rename_tensor(model.graph, value.name, mx_name)
    del model.graph.output[:]
    model.graph.output.extend(value for value, _ in order)


def _rename_tensor(graph, old, new):
    if old == new:
        return
    for node in graph.node:
        for field in (node.input, node.output):
            for i, name in enumerate(field):
                if name == old:
                    field[i] = new
    for value in list(graph.output) + list(graph.value_info):
        if value.name == old:
            value.name = new


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


@contextlib.contextmanager
def _weights_as_bytes():
    """Make mx2onnx store each weight from its bytes rather than a Python list of its values.

    mx2onnx writes every parameter with ``make_tensor(vals=arr.flatten().tolist())``;
    for VGG-11 that took 23 of its 37 s. Same tensor (name, type, shape, values).
    """
    from mxnet.onnx.mx2onnx._export_onnx import MXNetGraph
    from onnx import helper, mapping, numpy_helper

    tables = [table for table in MXNetGraph.registry_.values() if "null" in table]
    saved = [table["null"] for table in tables]
    original = MXNetGraph.registry_[max(v for v, t in MXNetGraph.registry_.items()
                                        if "null" in t)]["null"]

    def convert(node, **kwargs):
        if kwargs["is_input"] is not False:
            return original(node, **kwargs)
        name = node["name"]
        array = np.ascontiguousarray(kwargs["weights"][name])
        kwargs["initializer"].append(numpy_helper.from_array(array, name))
        value = helper.make_tensor_value_info(name, mapping.NP_TYPE_TO_TENSOR_TYPE[array.dtype],
                                              array.shape)
        return [value], (array.dtype,)

    for table in tables:
        table["null"] = convert
    try:
        yield
    finally:
        for table, function in zip(tables, saved):
            table["null"] = function


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


def _check_model(file, path):
    """Run onnx's full check on the model saved at ``file``; errors name ``path``."""
    import onnx
    try:
        onnx.checker.check_model(str(file), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ConversionError(f"{path}: the ONNX checker rejects the exported graph: "
                              f"{str(exc).strip().splitlines()[0]}; the message names the node; "
                              f"rewrite that layer or try another opset") from exc


def _simplify(source, work, path):
    """onnxsim's simplification of the model saved at ``source``: the file it is in.

    onnxsim's file-to-file entry point keeps the model out of Python (its
    ``simplify`` serializes the model and parses the result, whole, in
    Python); with an onnxsim that lacks it, the model goes through
    ``simplify`` in memory.
    """
    onnxsim = require("onnxsim", "convert", "ONNX simplification (simplify=True)")
    target = work / "onnxsim-simplified.onnx"
    _run_onnxsim(onnxsim, source, target, path)
    if not _runtime_loads(target):
        # onnxsim's optimizer can fold away the reshape that ends a Dense on 3-D
        # input, leaving attention's reshape(0, 0, heads, -1) a wrong-rank graph
        # that onnxruntime refuses; simplifying without it keeps the shapes.
        _run_onnxsim(onnxsim, source, target, path, optimize=False)
    return target


# The largest tensor onnxsim's constant folding may create (onnxsim.simplify's default, 1.5GB)
TENSOR_SIZE_THRESHOLD = int(1.5 * 2 ** 30)


def _run_onnxsim(onnxsim, source, target, path, optimize=True):
    native = getattr(getattr(onnxsim, "onnx_simplifier", None), "C", None)
    try:
        with _common.quiet():
            if hasattr(native, "simplify_path"):
                # The arguments of onnxsim.simplify(check_n=0): every optimizer (None: none),
                # constant folding and shape inference on.
                native.simplify_path(str(source), str(target), [] if optimize else None, True,
                                     True, TENSOR_SIZE_THRESHOLD)
                ok = target.is_file()
            else:
                import onnx
                simplified, ok = onnxsim.simplify(onnx.load(str(source)),
                                                  perform_optimization=optimize)
                save_model(simplified, target)
    except (RuntimeError, ValueError) as exc:
        raise ConversionError(f"{path}: onnxsim failed ({exc}); export with simplify=False "
                              f"(onnx2tf may then reject the graph)") from exc
    if not ok:
        raise ConversionError(f"{path}: onnxsim's simplified graph gives other outputs than the "
                              f"original; export with simplify=False")


def _runtime_loads(file):
    """Whether onnxruntime (when installed) accepts the model at ``file``; True without it."""
    try:
        import onnxruntime
    except ImportError:
        return True
    try:
        onnxruntime.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001  onnxruntime's Fail/InvalidGraph share no base class
        return False
    return True
