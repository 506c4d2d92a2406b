"""The metadata every exported artifact carries.

An edge runtime or a mobile app needs nothing but the model file and this
metadata: what the input looks like (shape, layouts, dtype), how to normalize
raw inputs, and what the outputs mean (labels).  It lives in a JSON sidecar
beside the artifact (``lenet5_int8.tflite`` -> ``lenet5_int8.tflite.json``);
ONNX files also embed the same JSON in their ``metadata_props`` under
:data:`METADATA_KEY`.

This module imports nothing but the standard library (and gluon-dl's errors and
atomic IO): the edge runtime reads metadata with it.

Keys (``FORMAT_VERSION`` 1)
---------------------------
format_version : int
name, task : str
num_classes : int or None
labels : list of str
input : dict
    What a caller passes (in the layout the model was trained with):
    ``shape`` (list of int, batch axis included, 1 for one sample),
    ``layout`` (e.g. ``"NCHW"``), ``dtype`` (of raw inputs, ``"float32"`` for
    images), ``mean``/``std`` (per channel; the network sees
    ``(x - mean) / std``; None for non-float inputs), ``input_range`` (of raw
    ``x``), ``dynamic_batch`` (whether the artifact takes any batch size) and
    ``name`` (of the artifact's input tensor).
artifact : dict
    What the file holds: ``format`` (``"onnx"``, ``"tflite"``, ``"mxnet"``),
    ``precision`` (``"float32"``, ``"float16"``, ``"int8"``, ...), ``layout`` of
    its input tensor (onnx2tf turns NCHW into NHWC), ``input_dtype`` of that
    tensor (``"int8"`` for full-integer TFLite), ``output_names`` and
    ``quantization`` (None, or ``{"input": {"dtype", "scale", "zero_point"},
    "output": {...}}`` as the interpreter reports them).
producer : dict
    ``{"name": "gluon-dl", "version": ..., <tool>: <version>, ...}``.
"""
import json
from pathlib import Path

from gluon_dl.errors import ModelFileError
from gluon_dl.utils.io import atomic_write_text

FORMAT_VERSION = 1
METADATA_KEY = "gluon_dl"
SIDECAR_SUFFIX = ".json"
REQUIRED_KEYS = ("format_version", "name", "labels", "input", "artifact")
REQUIRED_SECTION_KEYS = {"input": ("shape", "layout", "dtype", "mean", "std", "input_range"),
                         "artifact": ("format", "precision", "layout", "input_dtype")}


def build_metadata(config, *, fmt, precision, artifact_layout=None, input_name="data",
                   dynamic_batch=False, output_names=(), artifact_input_dtype=None,
                   quantization=None, producer=None):
    """The metadata dict of one artifact.

    Parameters
    ----------
    config : ModelConfig or dict
        The model's configuration (a ``ModelConfig`` or its ``to_dict()``).
    fmt : str
        Artifact format: ``"onnx"``, ``"tflite"``, ``"mxnet"``.
    precision : str
        ``"float32"``, ``"float16"``, ``"int8"``, ...
    artifact_layout : str, optional
        Axis order of the artifact's input; defaults to the model's layout.
    input_name : str
        Name of the artifact's input tensor.
    dynamic_batch : bool
        Whether the artifact takes any batch size.
    output_names : sequence of str
    artifact_input_dtype : str, optional
        Dtype of the artifact's input tensor; defaults to the raw input dtype.
    quantization : dict, optional
        Scale/zero-point of integer inputs and outputs.
    producer : dict, optional
        Versions of the tools that made the artifact, e.g. ``{"onnx2tf": "1.19.16"}``.

    Returns
    -------
    dict
        JSON-ready; see the module docstring for the keys.
    """
    cfg = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    layout = cfg.get("layout", "NCHW")
    artifact_layout = artifact_layout or layout
    if sorted(artifact_layout) != sorted(layout):
        raise ValueError(f"artifact layout {artifact_layout!r} is not a permutation of the "
                         f"model layout {layout!r}")
    dtype = str(cfg.get("input_dtype", "float32"))
    floats = dtype.startswith("float")
    return {
        "format_version": FORMAT_VERSION,
        "name": cfg["name"],
        "task": cfg.get("task", "classification"),
        "num_classes": cfg.get("num_classes"),
        "labels": [str(label) for label in cfg.get("labels", ())],
        "input": {
            "name": str(input_name),
            "shape": [1] + [int(d) for d in cfg["input_shape"]],
            "layout": layout,
            "dtype": dtype,
            "mean": [float(v) for v in cfg.get("mean", (0.0,))] if floats else None,
            "std": [float(v) for v in cfg.get("std", (1.0,))] if floats else None,
            "input_range": [float(v) for v in cfg.get("input_range", (0.0, 1.0))],
            "dynamic_batch": bool(dynamic_batch),
        },
        "artifact": {
            "format": fmt,
            "precision": precision,
            "layout": artifact_layout,
            "input_dtype": str(artifact_input_dtype or dtype),
            "output_names": [str(n) for n in output_names],
            "quantization": quantization,
        },
        "producer": {"name": "gluon-dl", "version": _gluon_dl_version(), **(producer or {})},
    }


def model_config_fields(meta):
    """The :class:`~gluon_dl.models.ModelConfig` fields recorded in ``meta``.

    ``ModelConfig.from_dict(model_config_fields(meta))`` rebuilds the config
    of the model an artifact came from (without ``paper``/``lesson``).
    """
    inp = meta["input"]
    fields = {k: meta[k] for k in ("name", "num_classes", "labels", "task") if k in meta}
    fields.update(input_shape=list(inp["shape"][1:]), layout=inp["layout"],
                  input_dtype=inp["dtype"], input_range=inp["input_range"])
    if inp.get("mean") is not None:
        fields.update(mean=inp["mean"], std=inp["std"])
    return fields


def to_json(meta):
    """Serialize metadata the same way for sidecars and embedded copies."""
    return json.dumps(meta, indent=2, sort_keys=True)


def sidecar_path(artifact_path):
    """Where the sidecar of ``artifact_path`` lives: the artifact path + ``.json``."""
    artifact_path = Path(artifact_path)
    return artifact_path.with_name(artifact_path.name + SIDECAR_SUFFIX)


def write_sidecar(artifact_path, meta):
    """Write ``meta`` beside ``artifact_path`` atomically; return the sidecar path."""
    validate(meta, source=f"metadata for {artifact_path}")
    return atomic_write_text(sidecar_path(artifact_path), to_json(meta) + "\n")


def read_metadata(artifact_path):
    """The metadata of an artifact: its sidecar, or for ``.onnx`` its embedded copy.

    Raises
    ------
    ModelFileError
        When neither exists or the metadata is not valid JSON with the
        required keys; the message names the file and what to do.
    """
    artifact_path = Path(artifact_path)
    sidecar = sidecar_path(artifact_path)
    if sidecar.is_file():
        return _parse(sidecar.read_text(encoding="utf-8"), source=str(sidecar))
    if artifact_path.suffix == ".onnx" and artifact_path.is_file():
        embedded = _onnx_metadata_props(artifact_path).get(METADATA_KEY)
        if embedded is not None:
            return _parse(embedded, source=f"{artifact_path} (metadata_props '{METADATA_KEY}')")
    where = f"{sidecar}" + (f" or a '{METADATA_KEY}' entry in its metadata_props"
                            if artifact_path.suffix == ".onnx" else "")
    raise ModelFileError(
        f"no gluon-dl metadata for {artifact_path}: expected {where}. Copy the sidecar that "
        f"the exporter wrote next to the model, or re-export it with deploy.export")


def validate(meta, source):
    """Check that ``meta`` has the keys this version reads; return it."""
    if not isinstance(meta, dict):
        raise ModelFileError(f"{source} is not a JSON object; re-export the model")
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    for section, keys in REQUIRED_SECTION_KEYS.items():
        if isinstance(meta.get(section), dict):
            missing += [f"{section}.{k}" for k in keys if k not in meta[section]]
        elif section in meta:
            missing.append(f"{section} (an object)")
    if missing:
        raise ModelFileError(f"{source} lacks the keys {missing}; re-export the model "
                             f"with this version of gluon-dl")
    if meta["format_version"] > FORMAT_VERSION:
        raise ModelFileError(
            f"{source} has metadata format {meta['format_version']}, newer than the "
            f"{FORMAT_VERSION} this gluon-dl reads; upgrade gluon-dl")
    return meta


def _parse(text, source):
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise ModelFileError(f"{source} is not valid JSON ({exc}); restore it or re-export "
                             f"the model") from None
    return validate(meta, source)


def _gluon_dl_version():
    import gluon_dl  # lazy package: importing it loads no submodule
    return gluon_dl.__version__


# --- A minimal protobuf reader, so reading ONNX metadata needs no onnx package. ---
_MODEL_METADATA_PROPS = 14  # ModelProto.metadata_props (repeated StringStringEntryProto)


def _onnx_metadata_props(path):
    """``{key: value}`` of an ONNX file's top-level ``metadata_props``; {} if unreadable."""
    data = Path(path).read_bytes()
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


def _varint(buf, pos):
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
