"""The metadata every exported artifact carries, and the checks that it is intact.

An edge runtime or a mobile app needs nothing but the model file and this
metadata: the model's :class:`~gluon_dl.config.ModelConfig` (input shape,
layout, dtype, normalization, labels) and what the file holds.  It lives in a
JSON sidecar beside the artifact (``lenet5_int8.tflite`` ->
``lenet5_int8.tflite.json``); ONNX files also embed it in their
``metadata_props`` under :data:`METADATA_KEY`.

This module imports nothing but the standard library, numpy, gluon-dl's
config, errors and atomic IO: the edge runtime reads metadata with it.

Keys (``FORMAT_VERSION`` 2)
---------------------------
format_version : int
config : dict
    Exactly ``ModelConfig.to_dict()``; read back with ``ModelConfig.from_dict``,
    which validates every field.
artifact : dict
    What the file holds: ``format`` (``"onnx"``, ``"tflite"``, ``"mxnet"``),
    ``precision`` (``"float32"``, ``"float16"``, ``"int8"``, ``"dynamic_range"``),
    ``layout`` of its input tensor (onnx2tf turns NCHW into NHWC),
    ``input_dtype`` of that tensor (``"int8"`` for full-integer TFLite),
    ``input_names`` and ``output_names`` (its tensors, inputs in the order of
    ``config.inputs``, outputs in the MXNet model's order), ``input_shapes``
    (optional: one list per input, batch axis first, ``null`` for an axis the
    artifact leaves free, e.g. ONNX's sequence length; TFLite's are fixed),
    ``dynamic_batch`` (whether it takes any batch size), ``quantization`` (None, or
    ``{"input": {"dtype", "scale", "zero_point"}, "output": {...}}`` as the
    interpreter reports them), ``sha256`` (of the artifact file; None in the
    copy embedded in an ONNX file, which cannot hold its own hash),
    ``files`` (``{name: sha256}`` of the other files it needs, e.g. MXNet's
    ``.params``) and, for ONNX, ``graph_sha256`` (of the serialized ``graph``
    field, checked when the embedded copy is the only metadata).
    Optional, per output of the MXNet model (TFLite files, whose converter
    reorders outputs and lays images out channels-last): ``output_order``
    (the position of the artifact output that holds it, as the runtime
    lists them; absent means the same order) and ``output_permutations``
    (null or the axes that put it back in the MXNet layout).
producer : dict
    ``{"name": "gluon-dl", "version": ..., <tool>: <version>, ...}``.

Format 1 (an ``input`` section that repeated the config's fields) is refused
with a request to re-export.
"""
import hashlib
import json
import math
import numbers
import re
from pathlib import Path

from gluon_dl.config import DTYPES, ModelConfig
from gluon_dl.errors import ArgumentError, IntegrityError, ModelFileError
from gluon_dl.utils import safejson
from gluon_dl.utils.io import atomic_write_text

FORMAT_VERSION = 2
METADATA_KEY = "gluon_dl"
SIDECAR_SUFFIX = ".json"
FORMATS = ("onnx", "tflite", "mxnet")  # the built-in ones; plug-in formats add their names
PRECISIONS = ("float32", "float16", "int8", "dynamic_range")
SIDECAR, EMBEDDED, ARGUMENT = "sidecar", "embedded", "argument"  # where metadata came from
MAX_METADATA_BYTES = 16 << 20  # a thousand labels take 20 KB; more is not metadata
MAX_NESTING = 32  # gluon-dl metadata nests 5 levels deep
OPT_OUT = ("pass verify_checksum=False to deploy.runtime.load (gluon-dl predict "
           "--no-verify-checksum) to run it anyway")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_FORMAT_NAME = re.compile(r"[a-z][a-z0-9_-]*")


def build_metadata(config, *, fmt, precision, artifact_layout=None, input_names=None,
                   dynamic_batch=False, output_names=(), artifact_input_dtype=None,
                   quantization=None, graph_sha256=None, producer=None, input_shapes=None,
                   output_permutations=None, output_order=None):
    """The metadata dict of one artifact, its hashes still unset.

    :func:`write_sidecar` records the SHA-256 of the written files.

    Parameters
    ----------
    config : ModelConfig or dict
        The model's configuration (a ``ModelConfig`` or its ``to_dict()``).
    fmt : str
        Artifact format, one of :data:`FORMATS`.
    precision : str
        One of :data:`PRECISIONS`.
    artifact_layout : str, optional
        Axis order of the artifact's input; defaults to the model's layout.
    input_names : sequence of str, optional
        Names of the artifact's input tensors; default ``config.input_names``.
    dynamic_batch : bool
        Whether the artifact takes any batch size.
    output_names : sequence of str
    artifact_input_dtype : str, optional
        Dtype of the artifact's input tensor; defaults to the raw input dtype.
    quantization : dict, optional
        Scale/zero-point of integer inputs and outputs.
    graph_sha256 : str, optional
        For ONNX: the SHA-256 of the serialized graph (:func:`onnx_graph_sha256`).
    producer : dict, optional
        Versions of the tools that made the artifact, e.g. ``{"onnx2tf": "1.19.16"}``.
    input_shapes : sequence of sequence, optional
        The artifact's input shapes, one per input name, None for a free axis.
    output_permutations : sequence, optional
        Per output of the MXNet model, None or the axes that turn the
        artifact's output into the MXNet model's layout
        (``numpy.transpose(y, perm)``).
    output_order : sequence of int, optional
        Per output of the MXNet model, the position of the artifact output
        (as its runtime lists them) that holds it; default: the same order.

    Returns
    -------
    dict
        JSON-ready; see the module docstring for the keys.

    Raises
    ------
    ArgumentError
        For an invalid config or artifact field (e.g. a layout that is not a
        permutation of the model's).
    """
    if not isinstance(config, ModelConfig):
        config = ModelConfig.from_dict(config)
    meta = {
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "artifact": {
            "format": fmt,
            "precision": precision,
            "layout": artifact_layout or config.layout,
            "input_dtype": str(artifact_input_dtype or config.input_dtype),
            "input_names": [str(n) for n in (input_names or config.input_names)],
            "output_names": [str(n) for n in output_names],
            "dynamic_batch": bool(dynamic_batch),
            "quantization": quantization,
            "sha256": None,
            "files": {},
        },
        "producer": {"name": "gluon-dl", "version": _gluon_dl_version(), **(producer or {})},
    }
    if graph_sha256 is not None:
        meta["artifact"]["graph_sha256"] = graph_sha256
    if input_shapes is not None:
        meta["artifact"]["input_shapes"] = [
            [None if d is None else int(d) for d in shape] for shape in input_shapes]
    if output_order is not None:
        meta["artifact"]["output_order"] = [  # numpy integers become ints; nothing else does
            int(i) if isinstance(i, numbers.Integral) and not isinstance(i, bool) else i
            for i in (output_order if isinstance(output_order, (list, tuple)) else [output_order])]
    if output_permutations is not None and any(p is not None for p in output_permutations):
        meta["artifact"]["output_permutations"] = [
            None if p is None else [int(a) for a in p] for p in output_permutations]
    try:
        return validate(meta, source=f"metadata of the {fmt} artifact")
    except ModelFileError as exc:
        raise ArgumentError(str(exc)) from None


def to_json(meta):
    """Serialize metadata the same way for sidecars and embedded copies."""
    return json.dumps(meta, indent=2, sort_keys=True, allow_nan=False)


def sidecar_path(artifact_path):
    """Where the sidecar of ``artifact_path`` lives: the artifact path + ``.json``."""
    artifact_path = Path(artifact_path)
    return artifact_path.with_name(artifact_path.name + SIDECAR_SUFFIX)


def write_sidecar(artifact_path, meta, companions=()):
    """Record the files' SHA-256 in ``meta`` and write it beside ``artifact_path``.

    Parameters
    ----------
    artifact_path : str or Path
        The finished artifact; its hash goes to ``artifact.sha256``.
    meta : dict
        From :func:`build_metadata`; not modified.
    companions : sequence of path
        Other files the artifact needs (MXNet's ``.params``); their hashes go
        to ``artifact.files`` under their names.

    Returns
    -------
    Path
        The sidecar, written atomically.
    """
    artifact = dict(meta["artifact"], sha256=file_sha256(artifact_path),
                    files={Path(p).name: file_sha256(p) for p in companions})
    meta = validate(dict(meta, artifact=artifact), source=f"metadata for {artifact_path}")
    return atomic_write_text(sidecar_path(artifact_path), to_json(meta) + "\n")


def read_metadata(artifact_path):
    """The validated metadata of an artifact: its sidecar, or for ``.onnx`` its embedded copy.

    Raises
    ------
    ModelFileError
        When neither exists, or the metadata is not valid JSON of this format
        (a field of the config or artifact sections missing or invalid); the
        message names the file, the field and what to do.
    """
    return locate_metadata(artifact_path)[0]


def locate_metadata(artifact_path):
    """``(metadata, origin)``: the validated metadata and :data:`SIDECAR` or :data:`EMBEDDED`."""
    artifact_path = Path(artifact_path)
    sidecar = sidecar_path(artifact_path)
    if sidecar.is_file():
        if sidecar.stat().st_size > MAX_METADATA_BYTES:
            raise ModelFileError(f"{sidecar} holds {sidecar.stat().st_size} bytes, more than "
                                 f"gluon-dl metadata ever does; restore it or re-export the model")
        return _parse(sidecar.read_bytes(), source=str(sidecar)), SIDECAR
    if artifact_path.suffix == ".onnx" and artifact_path.is_file():
        embedded = _onnx_metadata_props(artifact_path.read_bytes()).get(METADATA_KEY)
        if embedded is not None:
            source = f"{artifact_path} (metadata_props '{METADATA_KEY}')"
            return _parse(embedded, source=source), EMBEDDED
    where = f"{sidecar}" + (f" or a '{METADATA_KEY}' entry in its metadata_props"
                            if artifact_path.suffix == ".onnx" else "")
    raise ModelFileError(
        f"no gluon-dl metadata for {artifact_path}: expected {where}. Copy the sidecar that "
        f"the exporter wrote next to the model, or re-export it with deploy.export")


def config_from(meta, source="metadata"):
    """The :class:`ModelConfig` recorded in ``meta``; ModelFileError naming ``source``."""
    try:
        return ModelConfig.from_dict(meta["config"])
    except ArgumentError as exc:
        raise ModelFileError(f"{source} holds an invalid model config: {exc}. Fix that field "
                             f"or re-export the model") from None


# --- validation -----------------------------------------------------------------------------

def validate(meta, source):
    """Check every field of ``meta`` against this format; return it.

    Raises
    ------
    ModelFileError
        Naming ``source`` and the first invalid field.
    """
    if not isinstance(meta, dict):
        raise ModelFileError(f"{source} is not a JSON object; re-export the model")
    _check_version(meta.get("format_version"), source)
    _check_keys(meta, ("format_version", "config", "artifact"), ("producer",), source, "")
    for section in ("config", "artifact"):
        if not isinstance(meta[section], dict):
            raise ModelFileError(f"{source}: '{section}' must be a JSON object; re-export "
                                 f"the model")
    if not isinstance(meta.get("producer", {}), dict):
        raise ModelFileError(f"{source}: 'producer' must be a JSON object; re-export the model")
    config = config_from(meta, source)
    _check_artifact(meta["artifact"], config, source)
    return meta


def _check_version(version, source):
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{source}: format_version must be a positive integer, got "
                             f"{version!r}; re-export the model")
    if version < FORMAT_VERSION:
        raise ModelFileError(
            f"{source} has metadata format {version}, which this gluon-dl no longer reads "
            f"(it reads format {FORMAT_VERSION}); re-export the model with this version of "
            f"gluon-dl (deploy.export)")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{source} has metadata format {version}, newer than the {FORMAT_VERSION} this "
            f"gluon-dl reads; upgrade gluon-dl")


def _check_keys(d, required, optional, source, prefix):
    missing = [prefix + k for k in required if k not in d]
    unknown = sorted(prefix + str(k) for k in set(d) - set(required) - set(optional))
    if missing or unknown:
        what = "; ".join(part for part in (
            f"lacks the keys {missing}" if missing else "",
            f"has unknown keys {unknown}" if unknown else "") if part)
        raise ModelFileError(f"{source} {what}; re-export the model with this version of "
                             f"gluon-dl")


def _is_str_list(value, allow_empty=True):
    return isinstance(value, list) and (allow_empty or value) and all(
        isinstance(v, str) and v for v in value)


def _is_hash(value):
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def _is_quant(value):
    if not isinstance(value, dict) or set(value) != {"dtype", "scale", "zero_point"}:
        return False
    scale, zero_point = value["scale"], value["zero_point"]
    return (value["dtype"] in DTYPES and isinstance(scale, numbers.Real)
            and not isinstance(scale, bool) and math.isfinite(scale) and scale > 0
            and isinstance(zero_point, int) and not isinstance(zero_point, bool))


# artifact key -> (requirement for the message, check of the value)
_ARTIFACT_FIELDS = {
    "format": (f"a format name such as {', '.join(FORMATS)}",
               lambda v: isinstance(v, str) and _FORMAT_NAME.fullmatch(v) is not None),
    "precision": (f"one of {', '.join(PRECISIONS)}", lambda v: v in PRECISIONS),
    "layout": ("the config's layout", None),  # checked with the config
    "input_dtype": (f"one of {', '.join(DTYPES)}", lambda v: v in DTYPES),
    "input_names": ("a non-empty list of names", lambda v: _is_str_list(v, allow_empty=False)),
    "output_names": ("a list of names", _is_str_list),
    "dynamic_batch": ("true or false", lambda v: isinstance(v, bool)),
    "quantization": ('null or {"input": {"dtype", "scale" > 0, "zero_point"}, "output": ...}',
                     lambda v: v is None or (isinstance(v, dict) and set(v) == {"input", "output"}
                                             and all(map(_is_quant, v.values())))),
    "sha256": ("null or 64 lower-case hex digits", lambda v: v is None or _is_hash(v)),
    "files": ("an object {file name: sha256}", lambda v: isinstance(v, dict) and all(
        isinstance(k, str) and k and _is_hash(h) for k, h in v.items())),
    "graph_sha256": ("64 lower-case hex digits", _is_hash),
    "input_shapes": ("a list of shapes (lists of positive integers or null)",
                     lambda v: isinstance(v, list) and all(
                         isinstance(s, list) and all(d is None or (
                             isinstance(d, int) and not isinstance(d, bool) and d > 0)
                             for d in s) for s in v)),
    # per output: null, or the axes that put the artifact's output in the MXNet
    # model's layout (TFLite returns image outputs channels-last)
    "output_permutations": ("a list of null or axis permutations", lambda v: isinstance(
        v, list) and all(p is None or (isinstance(p, list) and sorted(p) == list(range(len(p)))
                                       and all(type(a) is int for a in p)) for p in v)),
    # per output of the MXNet model: the position of the artifact output that holds it
    # (a TFLite file converted from a SavedModel lists its outputs sorted by name)
    "output_order": ("a permutation of the output positions", lambda v: isinstance(v, list)
                     and all(type(i) is int for i in v) and sorted(v) == list(range(len(v)))),
}
_OPTIONAL_FIELDS = ("graph_sha256", "input_shapes", "output_permutations", "output_order")
# fields with one entry per output: as many as output_names
_PER_OUTPUT = ("output_permutations", "output_order")


def _check_artifact(artifact, config, source):
    required = tuple(k for k in _ARTIFACT_FIELDS if k not in _OPTIONAL_FIELDS)
    _check_keys(artifact, required, _OPTIONAL_FIELDS, source, "artifact.")
    for key, (requirement, check) in _ARTIFACT_FIELDS.items():
        if key not in artifact:
            continue
        value = artifact[key]
        if key == "layout":
            ok = value in _artifact_layouts(config.layout)
        elif key in ("input_names", "input_shapes"):
            ok = bool(check(value)) and len(value) == len(config.inputs)
            requirement += f" (one per input of the config: {len(config.inputs)})"
        elif key in _PER_OUTPUT and artifact.get("output_names"):
            outputs = len(artifact["output_names"])
            ok = bool(check(value)) and len(value) == outputs
            requirement += f" (one per output name: {outputs})"
        else:
            ok = check(value)
        if not ok:
            if key == "layout":
                requirement += (f" {config.layout!r} or its channels-last permutation "
                                f"{channels_last(config.layout)!r}")
            text = json.dumps(value, default=repr)
            text = text if len(text) <= 60 else text[:57] + "..."
            raise ModelFileError(f"{source}: artifact.{key} must be {requirement}, got {text}; "
                                 f"fix it or re-export the model")


def _artifact_layouts(layout):
    """The input layouts an artifact of a ``layout`` model has: its own, or channels last.

    Any other permutation would swap axes of the same size (H and W of a
    square image) unnoticed: the predictor would transpose every input.
    """
    return (layout, channels_last(layout))


def channels_last(layout):
    """The layout onnx2tf gives an input of ``layout``: NCHW -> NHWC, NCW -> NWC, ..."""
    if layout.startswith("NC") and 3 <= len(layout) <= 5:
        return "N" + layout[2:] + "C"
    return layout


def _parse(data, source):
    data = data.encode("utf-8") if isinstance(data, str) else data
    if safejson.nesting_depth(data) > MAX_NESTING:
        raise ModelFileError(f"{source} nests deeper than {MAX_NESTING} levels, which gluon-dl "
                             f"metadata never does; restore it or re-export the model")
    try:
        meta = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"{source} is not valid JSON ({exc}); restore it or re-export "
                             f"the model") from None
    return validate(meta, source)


def _no_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def _gluon_dl_version():
    import gluon_dl  # lazy package: importing it loads no submodule
    return gluon_dl.__version__


# --- integrity ------------------------------------------------------------------------------

def file_sha256(path, chunk_size=1 << 20):
    """The hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def check_integrity(artifact_path, meta, origin, companions=()):
    """Raise IntegrityError unless the files match the SHA-256 recorded in ``meta``.

    Parameters
    ----------
    artifact_path : str or Path
    meta : dict
        Validated metadata of the artifact.
    origin : str
        Where ``meta`` came from: :data:`SIDECAR` or :data:`ARGUMENT` (the
        whole file's ``sha256`` is checked) or :data:`EMBEDDED` (an ONNX
        file's own copy: its ``graph_sha256`` is checked).
    companions : sequence of path
        Other files the backend will read; each must match ``artifact.files``.

    Raises
    ------
    IntegrityError
        Naming the file, the expected and actual digest prefixes and the opt-out.
    """
    artifact_path = Path(artifact_path)
    artifact = meta["artifact"]
    where = f"in {sidecar_path(artifact_path)}" if origin == SIDECAR else "in its metadata"
    if origin == EMBEDDED:
        expected = artifact.get("graph_sha256")
        actual = onnx_graph_sha256(artifact_path.read_bytes(), source=artifact_path)
        _compare(f"{artifact_path} (its ONNX graph)", expected, actual, "embedded in the file")
    else:
        _compare(artifact_path, artifact["sha256"], file_sha256(artifact_path), where)
    for path in companions:
        path = Path(path)
        _compare(path, artifact["files"].get(path.name), file_sha256(path), where)


def _compare(what, expected, actual, where):
    if expected is None:
        raise IntegrityError(f"{what}: no SHA-256 is recorded {where}, so the file cannot be "
                             f"checked; re-export the model, or {OPT_OUT}")
    if expected != actual:
        raise IntegrityError(
            f"{what} is damaged or was changed: its SHA-256 is {actual[:12]}..., the "
            f"{expected[:12]}... recorded {where} when it was exported. Restore or re-export "
            f"it; if you changed it on purpose, {OPT_OUT}")


# --- a minimal protobuf reader, so reading ONNX metadata needs no onnx package ---------------
_MODEL_GRAPH = 7  # ModelProto.graph (GraphProto)
_MODEL_METADATA_PROPS = 14  # ModelProto.metadata_props (repeated StringStringEntryProto)


def onnx_graph_sha256(data, source="ONNX model"):
    """The hex SHA-256 of the serialized ``graph`` field of an ONNX file's bytes.

    ``metadata_props`` cannot hold the hash of the file that contains it; the
    graph (every node and weight) is what the embedded copy vouches for.

    Raises
    ------
    ModelFileError
        When ``data`` is not a protobuf with exactly one graph.
    """
    try:
        # a view: the graph (every weight) is hashed where it lies, not copied out
        graphs = [value for field, value in _fields(memoryview(data)) if field == _MODEL_GRAPH]
    except (IndexError, ValueError) as exc:
        raise ModelFileError(f"{source} is not a readable ONNX model ({exc}); restore it or "
                             f"re-export it") from None
    if len(graphs) != 1:
        raise ModelFileError(f"{source} holds {len(graphs)} ONNX graphs instead of one; restore "
                             f"it or re-export it")
    return hashlib.sha256(graphs[0]).hexdigest()


def _onnx_metadata_props(data):
    """``{key: value}`` of an ONNX file's top-level ``metadata_props``; {} if unreadable."""
    props = {}
    try:
        for field, value in _fields(data):
            if field == _MODEL_METADATA_PROPS:
                entry = dict(_fields(value))
                props[entry.get(1, b"").decode("utf-8")] = entry.get(2, b"").decode("utf-8")
    except (IndexError, ValueError, UnicodeDecodeError):
        return {}  # not a protobuf; the runtime reports the corrupt model itself
    return props


def _fields(buf):
    """Yield ``(field_number, bytes)`` for the length-delimited fields of a message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ValueError("truncated message")
            yield field, buf[pos:pos + size]
            pos += size
        else:
            raise ValueError(f"unsupported wire type {wire}")
    if pos > len(buf):
        raise ValueError("truncated message")


def _varint(buf, pos):
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")
