"""Export to TFLite through ONNX with onnx2tf: float32, float16 and int8 from one run.

onnx2tf turns the NCHW ONNX graph into an NHWC TensorFlow model and writes
every TFLite variant in one conversion; the wanted ones are renamed
``<stem>_<precision>.tflite`` and each gets a sidecar (artifact_layout "NHWC").

Offline by construction: onnx2tf downloads MS-COCO calibration images for
image inputs unless it is given data, so it is always given the caller's
calibration data (or synthetic samples when no int8 model is wanted).
"""
import collections
import contextlib
import os
import re
from pathlib import Path

import numpy as np

from gluon_dl.errors import ArgumentError, ConversionError
from gluon_dl.utils.deps import require

from . import _common, _pipeline
from ._registry import Converted, register_format

# our precision name -> the suffix of onnx2tf's output file
PRECISIONS = {
    "float32": "float32",
    "float16": "float16",
    "dynamic_range": "dynamic_range_quant",  # int8 weights, float activations and I/O
    "int8": "full_integer_quant",  # int8 weights, activations, input and output
}
_CALIBRATED = ("int8",)
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
        float32 to 1e-4 and float16 to 1e-2 (absolute, plus relative to each
        output's largest magnitude), int8 by top-1 agreement (90%).
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
    stem = stem or _pipeline.model_config(model, config, "tflite").name
    targets = {p: Path(out_dir) / f"{stem}_{p}.tflite" for p in precisions}
    return _export(model, targets, config=config, calib_data=calib_data, **kwargs)


def _export(model, targets, *, config=None, calib_data=None, batch_size=1,
            quant_type="per-channel", opset=13, simplify=True, verify=True, verify_inputs=None,
            reference=None):
    if batch_size is not None and (isinstance(batch_size, bool)
                                   or not isinstance(batch_size, int) or batch_size < 1):
        raise ArgumentError(f"batch_size must be a positive integer or None (dynamic), got "
                            f"{batch_size!r}")
    if quant_type not in ("per-channel", "per-tensor"):
        raise ArgumentError(f"quant_type must be 'per-channel' or 'per-tensor', got "
                            f"{quant_type!r}")
    return _pipeline.run("tflite", model, targets, config=config, calib_data=calib_data,
                         verify=verify, verify_inputs=verify_inputs, reference=reference,
                         batch_size=batch_size, quant_type=quant_type, opset=opset,
                         simplify=simplify)


@register_format("tflite", precisions=tuple(PRECISIONS), suffix=".tflite",
                 calibrated=_CALIBRATED, accepts_files=(".onnx",))
def convert(job):
    """The TFLite format's conversion step: ONNX (written here, or given) through onnx2tf.

    Options: ``batch_size`` (default 1), ``quant_type``, ``opset``, ``simplify``.
    """
    options = {"batch_size": 1, "quant_type": "per-channel", "opset": 13, "simplify": True,
               **job.options}
    onnx2tf = require("onnx2tf", "convert", "TFLite conversion")
    onnx_path = _onnx_source(job, options)
    big = _common.is_big(onnx_path)
    if big:
        _common.release_memory()  # MXNet's exporter and onnxsim leave gigabytes for big networks
    from . import _graphfix  # static shapes and rewrites onnx2tf converts faithfully
    onnx_path = _graphfix.prepare(onnx_path, job.stage / "graphfix" / Path(onnx_path).name,
                                  options["batch_size"], job.config)
    written = _convert(onnx2tf, onnx_path, job.stage, job.config, job.calib, job.targets,
                       options["batch_size"], options["quant_type"], release=big)
    # per file: onnx2tf may order or shape the outputs of each precision differently
    return {p: _finish(written[p], job.staged(p), p, job.config,
                       _output_permutations(onnx_path, written[p]))
            for p in job.targets}


def _output_permutations(onnx_path, tflite_path):
    """Where each ONNX output went in the TFLite file: its position and its axes.

    A file converted from onnx2tf's SavedModel lists its outputs sorted by
    name (onnx2tf's own int8 run did), and onnx2tf turns NCHW outputs into
    NHWC, so neither position nor shape is taken on trust.  Outputs are
    matched by name (:func:`_output_order`); an output whose TFLite shape is
    the ONNX shape with the channel axis moved last gets the permutation back.

    Returns
    -------
    OutputMap
        ``order[k]``: the position, among the interpreter's outputs, of ONNX
        output ``k``; ``permutations[k]``: None or the axes that put it back
        in the ONNX (MXNet) layout.

    Raises
    ------
    ConversionError
        When an output cannot be matched by name, or its shape is neither the
        ONNX one nor that shape channels-last.
    """
    import onnx
    import tensorflow as tf

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    names = [o.name for o in graph.output]
    wanted = [[d.dim_value or None for d in o.type.tensor_type.shape.dim] for o in graph.output]
    interpreter = tf.lite.Interpreter(model_path=str(tflite_path))
    details = interpreter.get_output_details()
    order = _output_order(interpreter, details, names, tflite_path)
    perms = [_undo_channels_last(wanted[k], list(details[i]["shape"]), names[k], tflite_path)
             for k, i in enumerate(order)]
    return OutputMap(order, perms)


OutputMap = collections.namedtuple("OutputMap", "order permutations")


def _output_order(interpreter, details, onnx_names, path):
    """Per ONNX output, the position of the TFLite output holding it, matched by name.

    Files converted from onnx2tf's SavedModel (its own int8 run) carry a
    signature whose output keys are the ONNX names.  Files converted from the
    concrete function of onnx2tf's Keras model (its float32 and float16
    files, and the int8 files :func:`_convert` makes) have none, and
    TensorFlow names their outputs ``Identity``, ``Identity_1``, ... in the
    order of the Keras model's outputs, which onnx2tf builds in the ONNX
    graph's output order (``onnx2tf.convert``: ``get_tf_model_outputs`` over
    the ONNX output names).
    """
    if len(details) != len(onnx_names):
        raise ConversionError(f"{path} has {len(details)} outputs, the ONNX model "
                              f"{len(onnx_names)} ({onnx_names}); onnx2tf dropped outputs")
    if len(details) == 1:
        return [0]
    position = {d["index"]: k for k, d in enumerate(details)}
    candidates = []
    for key in interpreter.get_signature_list():
        outputs = interpreter.get_signature_runner(key).get_output_details()
        candidates.append({_plain(n): position.get(d["index"]) for n, d in outputs.items()})
    candidates.append({_plain(d["name"]): k for k, d in enumerate(details)})
    identity = {f"Identity_{k}" if k else "Identity": k for k in range(len(details))}
    if {d["name"] for d in details} == set(identity):
        candidates.append({onnx_names[identity[d["name"]]]: k for k, d in enumerate(details)})
    for by_name in candidates:
        order = [by_name.get(_plain(n)) for n in onnx_names]
        if None not in order and sorted(order) == list(range(len(details))):
            return order
    raise ConversionError(
        f"{path}: cannot tell which TFLite output holds which ONNX output: the file names them "
        f"{[d['name'] for d in details]} (signatures {interpreter.get_signature_list()}), "
        f"the ONNX model {onnx_names}; this onnx2tf names its outputs differently")


def _plain(name):
    # onnx2tf's spelling of an ONNX name in TensorFlow: ':' -> '__', no leading '/'
    return re.sub(r"^/", "", name.replace(":", "__"))


def _undo_channels_last(want, have, name, path):
    """None if ``have`` is the ONNX shape ``want``, else the axes that undo channels-last.

    The batch axis is not compared (the TFLite file fixes it). A shape that
    is both (C == H == W) reads as unchanged.
    """
    rank = len(want)
    same = lambda a, b: len(a) == len(b) and all(  # noqa: E731
        x is None or x == y for x, y in zip(a[1:], b[1:]))
    if same(want, have):
        return None
    if rank >= 3 and same(want[:1] + want[2:] + want[1:2], have):
        return [0, rank - 1] + list(range(1, rank - 1))
    raise ConversionError(f"{path}: output '{name}' has shape {have}, the ONNX model's "
                          f"{want}; onnx2tf changed it other than by moving the channels last")


def _onnx_source(job, options):
    """The ONNX file to convert: the given one, or the block's export (sequence axes fixed)."""
    if job.source is not None:
        return _fixed_sequence(job.source, job.config, job.stage / "onnx")
    from . import onnx as onnx_export
    path = job.stage / "onnx" / f"{job.config.name}.onnx"
    model = onnx_export.to_onnx(job.net, job.config, job.trace, job.stage / "onnx", path,
                                opset=options["opset"], simplify=options["simplify"],
                                dynamic_sequence=False)
    onnx_export.save_model(model, path)
    return path


def _fixed_sequence(path, config, work):
    """``path``, or a copy whose free axes other than the batch take the config's sizes.

    TFLite models have fixed shapes (recorded in their metadata); an ONNX
    model's free sequence length is fixed to the config's here.
    """
    import onnx
    model = onnx.load(str(path))
    changed = False
    shapes = {spec.name: (None,) + tuple(spec.shape) for spec in config.inputs}
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        for axis, dim in enumerate(dims):
            if axis and not dim.dim_value and value.name in shapes:
                dim.dim_value = shapes[value.name][axis]
                changed = True
    if not changed:
        return Path(path)
    work.mkdir(parents=True, exist_ok=True)
    fixed = work / Path(path).name
    from . import onnx as onnx_export
    onnx_export.save_model(model, fixed)
    return fixed


def _convert(onnx2tf, onnx_path, stage, config, calib, targets, batch_size, quant_type,
             release=False):
    """Run onnx2tf once; return precision -> the file it (or a quantizer here) wrote.

    onnx2tf writes the float32 and float16 files.  The int8 files are converted
    here from the Keras model it returns: its own int8 run converts five
    variants with four calibrations (only one of which is used), wants float
    calibration samples for every input (token ids are int32) and converts
    from a SavedModel whose inputs and outputs may be ordered unlike the
    float32 file's.
    """
    work = stage / "onnx2tf"
    work.mkdir()
    source = work / "model.onnx"  # onnx2tf rewrites its input file in place
    source.write_bytes(Path(onnx_path).read_bytes())
    samples = _tf_samples(source, config, calib)
    custom = _test_data_files(work, config, samples)
    out = work / "out"
    with _chdir(work), _common.quiet() as log, _lean_onnx2tf(release):
        try:
            model = onnx2tf.convert(
                input_onnx_file_path=str(source), output_folder_path=str(out),
                custom_input_op_name_np_data_path=custom, not_use_onnxsim=True,
                batch_size=batch_size, non_verbose=True)
            for precision in targets:
                if precision in _QUANTIZERS:
                    _QUANTIZERS[precision](model, out / f"model_{PRECISIONS[precision]}.tflite",
                                           quant_type, samples)
        except (SystemExit, Exception) as exc:  # onnx2tf reports errors with sys.exit(1)
            error = exc
        else:
            error = None
    if error is not None:
        raise _conversion_error(onnx_path, log, error) from (
            None if isinstance(error, SystemExit) else error)
    written = {p: out / f"model_{PRECISIONS[p]}.tflite" for p in targets}
    for p, f in written.items():
        if not f.is_file():
            raise ConversionError(f"onnx2tf did not write the {p} model of {onnx_path}; its log "
                                  f"ends with:\n{log.tail()}")
        if p in _QUANTIZERS:
            _check_allocates(f, p, onnx_path)
    return written


@contextlib.contextmanager
def _lean_onnx2tf(release=True):
    """Run onnx2tf without its SavedModel, and (``release``) free memory after each conversion.

    onnx2tf writes a SavedModel before its TFLite files; nothing here reads it
    (the int8 files are converted from the Keras model it returns), and for
    VGG-16 it took 20 of the conversion's 150 s.  Each ``TFLiteConverter.convert``
    leaves its frozen copies of the graph in reference cycles and glibc's heap:
    released after each conversion, VGG-16's float16 conversion no longer
    starts 3 GiB above the float32 one (peak 12.7 instead of 15.4 GiB).  Releasing
    costs a garbage collection (~0.2 s with TensorFlow loaded), so it is done
    for networks of at least ``_common.RELEASE_ABOVE`` bytes only.  The patches
    hold for the ``with`` block only (onnx2tf runs one at a time here).
    """
    import tensorflow as tf
    converter_class = tf.lite.TFLiteConverter
    convert, save = converter_class.convert, tf.saved_model.save

    def lean_convert(self, *args, **kwargs):
        try:
            return convert(self, *args, **kwargs)
        finally:
            _common.release_memory()

    if release:
        converter_class.convert = lean_convert
    tf.saved_model.save = lambda *args, **kwargs: None
    try:
        yield
    finally:
        converter_class.convert, tf.saved_model.save = convert, save


_ALLOCATE = """
import sys
try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:
    try:
        from tflite_runtime.interpreter import Interpreter
    except ImportError:
        from tensorflow.lite import Interpreter
Interpreter(model_path=sys.argv[1]).allocate_tensors()
"""


def _check_allocates(path, precision, onnx_path):
    """Refuse a quantized file that the TFLite interpreter cannot allocate, without crashing.

    TensorFlow's converter can write an int8 model whose kernels abort the
    process when the interpreter prepares them (a pre-activation ResNet's
    int8 file did, in every TFLite runtime): tried in a child process first,
    so that the exporter raises instead of the caller's process dying.
    """
    import subprocess
    import sys
    try:
        done = subprocess.run([sys.executable, "-c", _ALLOCATE, str(path)], capture_output=True,
                              text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise ConversionError(f"the {precision} TFLite model of {onnx_path} did not finish "
                              f"allocating its tensors in 600 s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()
                 and "WARNING" not in line and not line.startswith("INFO")]
        why = lines[-1] if lines else f"the process ended with code {done.returncode}"
        raise ConversionError(
            f"the {precision} TFLite model of {onnx_path} crashes the TFLite interpreter when "
            f"it allocates its tensors ({why}); TensorFlow's converter wrote kernels its own "
            f"runtime rejects: export float32/float16, or dynamic_range int8")


def _converter(model, quant_type):
    """A TFLite converter of onnx2tf's Keras model, made the way onnx2tf makes its float32 file.

    Same concrete function, so the same inputs, names and output order as the
    float32 file; TFLite's default optimization (int8 weights).
    """
    import tensorflow as tf
    run = tf.function(lambda *inputs: model(inputs))
    concrete = run.get_concrete_function(
        *[tf.TensorSpec(t.shape, t.dtype) for t in model.inputs])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter._experimental_disable_per_channel = quant_type == "per-tensor"
    return converter


def _dynamic_range(model, path, quant_type, samples):
    """Dynamic-range int8 (int8 weights, float activations): needs no calibration data."""
    import tensorflow as tf
    converter = _converter(model, quant_type)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                           tf.lite.OpsSet.SELECT_TF_OPS]
    Path(path).write_bytes(converter.convert())


def _full_integer(model, path, quant_type, samples):
    """Full-integer int8 (weights, activations, input and output), calibrated on ``samples``."""
    import tensorflow as tf
    converter = _converter(model, quant_type)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                           tf.lite.OpsSet.SELECT_TF_OPS]
    converter.representative_dataset = _representative(model, samples)
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    Path(path).write_bytes(converter.convert())


_QUANTIZERS = {"dynamic_range": _dynamic_range, "int8": _full_integer}


def _representative(model, samples):
    """Calibration batches in the Keras model's input order, of its batch size (1 if free)."""
    by_name = dict(samples)
    names = [t.name.split(":")[0] for t in model.inputs]
    arrays = [by_name[n] if n in by_name else samples[k][1] for k, n in enumerate(names)]
    batch = model.inputs[0].shape[0] or 1
    count = len(arrays[0])

    def batches():
        for start in range(0, count, batch):
            index = np.arange(start, start + batch) % count  # the last batch wraps around
            yield [np.ascontiguousarray(a[index]) for a in arrays]
    return batches


def _tf_samples(source, config, calib):
    """``(ONNX input name, samples)`` per input, in ``config.inputs`` order and TF layout.

    Calibration data of the int8 file and test data of onnx2tf's conversion;
    synthetic samples when the caller gave none.
    """
    data = calib if calib is not None else _common.sample_inputs(config)
    samples = []
    for spec, name, array in zip(config.inputs, _onnx_input_names(source, config), data):
        array = np.asarray(array)
        if spec.name == config.input_name:
            perm = [config.layout.index(axis) for axis in _common.channels_last(config.layout)]
            array = array.transpose(perm)
        elif array.ndim > 2:
            raise ConversionError(f"input '{spec.name}' of {source} has shape {array.shape[1:]}; "
                                  f"the TFLite exporter takes extra inputs of at most one axis "
                                  f"besides the batch (onnx2tf would transpose them)")
        dtype = np.float32 if array.dtype.kind == "f" else array.dtype
        samples.append((name, np.ascontiguousarray(array.astype(dtype))))
    return samples


def _test_data_files(work, config, samples):
    """Write onnx2tf's test data for its conversion; return its custom_input_op_name_np_data_path."""
    if len(config.input_shape) == 3 and config.input_shape[0] == 3:
        # onnx2tf loads (or else downloads) this sample for 3-channel inputs even when
        # given data; it is unused then, so zeros do.
        np.save(work / _ONNX2TF_SAMPLE, np.zeros((20, 128, 128, 3), np.float32))
    entries = []
    for name, array in samples:
        if array.dtype.kind in "iu":
            # onnx2tf computes (sample - mean) / std in floating point and feeds that to
            # its test run, which an int32 token input refuses; it draws ids of its own
            # for an input left out
            continue
        file = work / f"calib_{len(entries)}.npy"
        np.save(file, array)
        # onnx2tf uses (sample - mean) / std with the batch axis of each sample dropped:
        # mean 0 and std 1 keep the (already normalized) values exact, and their full rank
        # broadcasts the batch axis back (a 3-D sample fails Conv2D).
        ones = [1] * array.ndim
        entries.append([name, str(file), np.zeros(ones, np.float32), np.ones(ones, np.float32)])
    return entries or None


def _onnx_input_names(path, config):
    import onnx
    model = onnx.load(str(path), load_external_data=False)
    weights = {init.name for init in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in weights]
    if sorted(names) != sorted(config.input_names):
        raise ConversionError(f"{path} has inputs {names}; its config describes "
                              f"{config.input_names}: export the ONNX model with this config")
    return config.input_names


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


def _finish(written, staged, precision, config, output_map=None):
    """Rename onnx2tf's file and read what its metadata records.

    ``output_map`` (:func:`_output_permutations`) puts the outputs in the
    MXNet model's order: ``output_names`` lists them so, ``output_order``
    says where each one is among the file's outputs.
    """
    written.replace(staged)
    inputs, outputs = _interpreter_details(staged, config)
    inp = inputs[0]
    layout = _artifact_layout(config, inp["shape_signature"], staged)
    order = output_map.order if output_map is not None else list(range(len(outputs)))
    first = outputs[order[0]]
    quantization = None
    # token ids are integer inputs too, but unquantized (scale 0)
    if np.dtype(inp["dtype"]).kind in "iu" and _quant(inp)["scale"] > 0 \
            and _quant(first)["scale"] > 0:
        quantization = {"input": _quant(inp), "output": _quant(first)}
    import onnx2tf
    import tensorflow as tf
    return Converted(staged, dict(
        artifact_layout=layout, input_names=[d["name"] for d in inputs],
        input_shapes=[[int(s) if s > 0 else None for s in d["shape_signature"]] for d in inputs],
        dynamic_batch=int(inp["shape_signature"][0]) < 0,
        output_names=[outputs[i]["name"] for i in order], quantization=quantization,
        output_order=order if len(order) > 1 else None,
        output_permutations=output_map.permutations if output_map is not None else None,
        artifact_input_dtype=np.dtype(inp["dtype"]).name,
        producer={"onnx2tf": onnx2tf.__version__, "tensorflow": tf.__version__}))


def _interpreter_details(path, config):
    """The interpreter's input details in ``config.inputs`` order, and its output details."""
    import tensorflow as tf
    interpreter = tf.lite.Interpreter(model_path=str(path))
    inputs = interpreter.get_input_details()
    ordered = [_matching(inputs, k, spec.name, path) for k, spec in enumerate(config.inputs)] \
        if len(inputs) > 1 else inputs
    if len(inputs) != len(config.inputs):
        raise ConversionError(f"{path} has {len(inputs)} inputs; its config describes "
                              f"{config.input_names}")
    return ordered, interpreter.get_output_details()


def _matching(details, position, name, path):
    # onnx2tf names inputs after the ONNX ones (TensorFlow may add "serving_default_" and
    # ":0"), or "inputs_<k>" for the k-th ONNX input, which follows config.inputs.
    plain = [re.sub(r"^serving_default_|:\d+$", "", d["name"]) for d in details]
    found = [d for d, n in zip(details, plain) if n in (name, f"inputs_{position}")]
    if len(found) != 1:
        raise ConversionError(f"{path}: no single TFLite input is named like the model input "
                              f"'{name}' ({[d['name'] for d in details]})")
    return found[0]


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
