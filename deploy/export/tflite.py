"""Export to TFLite through ONNX with onnx2tf: float32, float16 and int8 from one run.

onnx2tf turns the NCHW ONNX graph into an NHWC TensorFlow model and writes
every TFLite variant in one conversion; the wanted ones are renamed
``<stem>_<precision>.tflite`` and each gets a sidecar (artifact_layout "NHWC").

Offline by construction: onnx2tf downloads MS-COCO calibration images for
image inputs unless it is given data, so it is always given the caller's
calibration data (or synthetic samples when no int8 model is wanted).
"""
import contextlib
import os
import re
from pathlib import Path

import numpy as np

from gluon_dl.errors import ArgumentError, ConversionError, InputShapeError, NonFiniteError
from gluon_dl.utils.deps import require

from ..metadata import build_metadata, config_from, read_metadata, write_sidecar
from . import _common
from ._verify import reference_outputs
from ._verify import verify as _verify

# our precision name -> the suffix of onnx2tf's output file
PRECISIONS = {
    "float32": "float32",
    "float16": "float16",
    "dynamic_range": "dynamic_range_quant",  # int8 weights, float activations and I/O
    "int8": "full_integer_quant",  # int8 weights, activations, input and output
}
_CALIBRATED = ("int8",)
_NEEDS_QUANT_RUN = ("int8", "dynamic_range")
# onnx2tf loads this file from the working directory instead of downloading it.
_ONNX2TF_SAMPLE = "calibration_image_sample_data_20x128x128x3_float32.npy"


def export(model, path, *, precision="float32", config=None, calib_data=None, **kwargs):
    """Export one TFLite model.

    Parameters
    ----------
    model : mxnet.gluon.HybridBlock or str or Path
        A Gluon block, or an ``.onnx`` file written by :mod:`deploy.export.onnx`.
    path : str or Path
        Output ``.tflite`` file (sidecar: ``path + ".json"``).
    precision : str
        One of :data:`PRECISIONS`.
    config, calib_data, **kwargs
        As for :func:`export_many`.

    Returns
    -------
    Path
    """
    return _export(model, {precision: Path(path)}, config=config, calib_data=calib_data,
                   **kwargs)[precision]


def export_many(model, out_dir, *, precisions=("float32", "float16", "int8"), stem=None,
                config=None, calib_data=None, **kwargs):
    """Export several TFLite precisions from one onnx2tf conversion.

    Parameters
    ----------
    model : mxnet.gluon.HybridBlock or str or Path
        A Gluon block, or an ``.onnx`` file written by :mod:`deploy.export.onnx`.
    out_dir : str or Path
        Files are named ``<out_dir>/<stem>_<precision>.tflite`` (+ ``.json``).
    precisions : sequence of str
        Keys of :data:`PRECISIONS`.
    stem : str, optional
        Defaults to the model's name (``config.name``).
    config : ModelConfig, optional
        Defaults to ``net.config`` or the ONNX file's metadata.
    calib_data : numpy.ndarray, optional
        Normalized inputs in the model's layout (e.g. N x 1 x 28 x 28, a few
        hundred real samples); required for ``"int8"``.
    batch_size : int or None
        Fixed batch of the TFLite input (default 1, what mobile apps expect);
        None keeps it dynamic.
    quant_type : {"per-channel", "per-tensor"}
        Weight quantization of the int8 models.
    opset, simplify : int, bool
        For the intermediate ONNX export of a Gluon block.
    verify : bool
        Run every model with the edge runtime and compare with the reference:
        float32 to atol 1e-4, float16 to 1e-2, int8 by top-1 agreement (90%).
    verify_inputs : numpy.ndarray, optional
        Normalized inputs for the check (default: ``calib_data[:64]`` for int8,
        synthetic images otherwise).
    reference : Gluon block, Predictor or numpy.ndarray, optional
        What to compare with (default: the block, or the ONNX model run by
        onnxruntime).

    Returns
    -------
    dict
        precision -> Path.
    """
    config = _config(model, config)
    stem = stem or config.name
    targets = {p: Path(out_dir) / f"{stem}_{p}.tflite" for p in precisions}
    return _export(model, targets, config=config, calib_data=calib_data, **kwargs)


def _export(model, targets, *, config=None, calib_data=None, batch_size=1,
            quant_type="per-channel", opset=13, simplify=True, verify=True, verify_inputs=None,
            reference=None):
    unknown = [p for p in targets if p not in PRECISIONS]
    if unknown:
        raise ArgumentError(f"unknown TFLite precision(s) {unknown}; choose from "
                            f"{list(PRECISIONS)}")
    if any(p in _CALIBRATED for p in targets) and calib_data is None:
        raise ArgumentError("int8 TFLite export needs calib_data: a few hundred normalized "
                            "inputs in the model's layout (e.g. training images shaped "
                            "N x C x H x W)")
    if batch_size is not None and (isinstance(batch_size, bool)
                                   or not isinstance(batch_size, int) or batch_size < 1):
        raise ArgumentError(f"batch_size must be a positive integer or None (dynamic), got "
                            f"{batch_size!r}")
    if quant_type not in ("per-channel", "per-tensor"):
        raise ArgumentError(f"quant_type must be 'per-channel' or 'per-tensor', got "
                            f"{quant_type!r}")
    onnx2tf = require("onnx2tf", "convert", "TFLite conversion")
    config = _config(model, config)
    calib = None if calib_data is None else _check_calib(calib_data, config)
    first = next(iter(targets.values()))
    with _common.staging_dir(first) as stage:
        onnx_path, reference = _onnx_source(model, config, stage, reference, opset, simplify)
        written = _convert(onnx2tf, onnx_path, stage, config, calib, targets, batch_size,
                           quant_type)
        staged = {p: _finish(written[p], stage / targets[p].name, p, config) for p in targets}
        if verify:
            _verify_all(staged, reference, config, calib, verify_inputs)
        for p, target in targets.items():
            _common.publish(staged[p], target)
    return dict(targets)


def _config(model, config):
    if config is not None:
        return config
    if isinstance(model, (str, os.PathLike)):
        return config_from(read_metadata(model), source=f"metadata of {model}")
    return _common.resolve_config(model, None)


def _check_calib(calib_data, config):
    calib = np.asarray(calib_data)
    if calib.dtype.kind not in "biuf":
        raise InputShapeError(f"calib_data must be a numeric array of normalized inputs; got "
                              f"dtype {calib.dtype}")
    calib = calib.astype(np.float32, copy=False)
    sample = tuple(config.input_shape)
    if calib.ndim != len(sample) + 1 or calib.shape[1:] != sample or len(calib) == 0:
        raise InputShapeError(
            f"calib_data must be normalized inputs shaped (N, {', '.join(map(str, sample))}) "
            f"in layout {config.layout}; got {calib.shape}")
    if not np.isfinite(calib).all():
        bad = np.flatnonzero(~np.isfinite(calib.reshape(len(calib), -1)).all(axis=1))
        raise NonFiniteError(f"calib_data samples {bad[:8].tolist()} hold NaN or Inf; int8 "
                             f"ranges calibrated on them would be meaningless: drop them")
    return calib


def _onnx_source(model, config, stage, reference, opset, simplify):
    """The ONNX file to convert and the reference to verify against."""
    if isinstance(model, (str, os.PathLike)):
        if reference is None:
            from ..runtime import load
            reference = load(model, backend="onnxruntime")
        return Path(model), reference
    from . import onnx as onnx_export
    path = onnx_export.export(model, stage / "onnx" / f"{config.name}.onnx", config=config,
                              opset=opset, simplify=simplify, verify=False)
    return path, model if reference is None else reference


def _convert(onnx2tf, onnx_path, stage, config, calib, targets, batch_size, quant_type):
    """Run onnx2tf once; return precision -> the file it wrote."""
    work = stage / "onnx2tf"
    work.mkdir()
    source = work / "model.onnx"  # onnx2tf rewrites its input file in place
    source.write_bytes(Path(onnx_path).read_bytes())
    custom = _calibration_files(work, source, config, calib)
    quant = any(p in _NEEDS_QUANT_RUN for p in targets)
    with _chdir(work), _common.quiet() as log:
        try:
            onnx2tf.convert(
                input_onnx_file_path=str(source), output_folder_path=str(work / "out"),
                output_integer_quantized_tflite=quant, quant_type=quant_type,
                custom_input_op_name_np_data_path=custom, input_output_quant_dtype="int8",
                not_use_onnxsim=True, batch_size=batch_size, non_verbose=True)
        except (SystemExit, Exception) as exc:  # onnx2tf reports errors with sys.exit(1)
            error = exc
        else:
            error = None
    if error is not None:
        raise _conversion_error(onnx_path, log, error) from (
            None if isinstance(error, SystemExit) else error)
    written = {p: work / "out" / f"model_{PRECISIONS[p]}.tflite" for p in targets}
    for p, f in written.items():
        if not f.is_file():
            raise ConversionError(f"onnx2tf did not write the {p} model of {onnx_path}; its log "
                                  f"ends with:\n{log.tail()}")
    return written


def _calibration_files(work, source, config, calib):
    """Write onnx2tf's calibration data; return its custom_input_op_name_np_data_path."""
    data = calib if calib is not None else _common.default_inputs(config)
    perm = [config.layout.index(axis) for axis in _common.channels_last(config.layout)]
    np.save(work / "calib.npy", np.ascontiguousarray(data.transpose(perm)))  # TF layout
    if len(config.input_shape) == 3 and config.input_shape[0] == 3:
        # onnx2tf loads (or else downloads) this sample for 3-channel inputs even when
        # given data; it is unused then, so zeros do.
        np.save(work / _ONNX2TF_SAMPLE, np.zeros((20, 128, 128, 3), np.float32))
    # onnx2tf feeds the converter (sample - mean) / std with the batch axis of each
    # sample dropped: mean 0 and std 1 keep the (already normalized) values exact, and
    # their full rank broadcasts the batch axis back (a 3-D sample fails Conv2D).
    ones = [1] * data.ndim
    return [[_onnx_input_name(source), str(work / "calib.npy"),
             np.zeros(ones, np.float32), np.ones(ones, np.float32)]]


def _onnx_input_name(path):
    import onnx
    model = onnx.load(str(path), load_external_data=False)
    weights = {init.name for init in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in weights]
    if len(names) != 1:
        raise ConversionError(f"{path} has inputs {names}; the TFLite exporter handles models "
                              f"with one input")
    return names[0]


@contextlib.contextmanager
def _chdir(path):
    # onnx2tf reads and writes scratch files in the working directory.
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _conversion_error(onnx_path, log, exc):
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.text)
    op_names = re.findall(r"onnx_op_name: (\S+)", text)
    missing = re.findall(r"(\w+) OP is not yet implemented", text)
    errors = [line.split("ERROR:", 1)[1].strip() for line in text.splitlines() if "ERROR:" in line]
    where = ""
    if missing:
        where = f" at operator {missing[-1]} (onnx2tf has no converter for it)"
    elif op_names:
        where = f" at ONNX node {op_names[-1]}"
    detail = errors[-1] if errors else (str(exc) or type(exc).__name__)
    return ConversionError(
        f"onnx2tf could not convert {onnx_path}{where}: {detail}. Rewrite the layer behind it "
        f"with operators onnx2tf supports (export with simplify=True; broadcast instead of "
        f"repeat/Tile), or see https://github.com/PINTO0309/onnx2tf#parameter-replacement")


def _finish(written, staged, precision, config):
    """Rename onnx2tf's file, read its input spec and write its sidecar."""
    written.replace(staged)
    details = _interpreter_details(staged)
    inp, outputs = details["input"], details["outputs"]
    layout = _artifact_layout(config, inp["shape_signature"], staged)
    quantization = None
    if np.dtype(inp["dtype"]).kind in "iu":
        quantization = {"input": _quant(inp), "output": _quant(outputs[0])}
    import onnx2tf
    import tensorflow as tf
    meta = build_metadata(
        config, fmt="tflite", precision=precision, artifact_layout=layout,
        input_names=[inp["name"]], dynamic_batch=int(inp["shape_signature"][0]) < 0,
        output_names=[o["name"] for o in outputs], quantization=quantization,
        artifact_input_dtype=np.dtype(inp["dtype"]).name,
        producer={"onnx2tf": onnx2tf.__version__, "tensorflow": tf.__version__})
    write_sidecar(staged, meta)
    return staged


def _interpreter_details(path):
    import tensorflow as tf
    interpreter = tf.lite.Interpreter(model_path=str(path))
    inputs = interpreter.get_input_details()
    if len(inputs) != 1:
        raise ConversionError(f"{path} has {len(inputs)} inputs; expected one")
    return {"input": inputs[0], "outputs": interpreter.get_output_details()}


def _artifact_layout(config, signature, path):
    """The layout whose axis order matches the interpreter's input shape."""
    model_shape = [-1] + list(config.input_shape)  # -1: the batch axis, fixed or not
    got = [-1] + [int(s) for s in signature[1:]]
    for layout in (_common.channels_last(config.layout), config.layout):
        if [model_shape[config.layout.index(axis)] for axis in layout] == got:
            return layout
    raise ConversionError(f"{path}: the TFLite input shape {list(signature)} matches neither "
                          f"{config.layout} nor {_common.channels_last(config.layout)} for the "
                          f"sample shape {list(config.input_shape)}; the converter reordered the "
                          f"axes unexpectedly")


def _quant(detail):
    scale, zero_point = detail["quantization"]
    return {"dtype": np.dtype(detail["dtype"]).name, "scale": float(scale),
            "zero_point": int(zero_point)}


def _verify_all(staged, reference, config, calib, verify_inputs):
    """Verify every staged model; reference outputs are computed once per input set."""
    sets = {}
    for precision, path in staged.items():
        if verify_inputs is not None:
            key, inputs = "given", verify_inputs
        elif precision in _CALIBRATED or precision == "dynamic_range":
            key = "quant"
            inputs = calib[:64] if calib is not None else _common.default_inputs(config, n=64)
        else:
            key, inputs = "float", _common.default_inputs(config)
        if key not in sets:
            inputs = np.asarray(inputs, dtype=np.float32)
            sets[key] = (inputs, reference_outputs(reference, inputs))
        inputs, expected = sets[key]
        _verify(path, expected, inputs)
