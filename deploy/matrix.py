"""The export matrix: every registered model through every deployment format.

``python -m deploy.matrix --out docs/export_matrix.md [--models PATTERN] [--jobs N]``
exports each model matching ``PATTERN`` (all of :func:`gluon_dl.models.list_models`
and :func:`gluon_dl.models.list_parts` by default: a part such as
``vae_mlp.decoder`` is a row of its own) to MXNet int8, ONNX and TFLite
float32/float16/int8, runs every
artifact in its runtime, and compares it with the MXNet float32 model.  Each
row is cached in a JSON file beside the document (``--json``), so one row can
be regenerated alone; the Markdown document is rendered from every cached row.

Method (also written into the document):

- weights: He-normal initialization from a fixed seed, each residual branch's
  last layer (BatchNorm or convolution) scaled by ``RESIDUAL_BRANCH_SCALE``; BatchNorm running
  statistics stay at the init's 0 and 1 (statistics from data make random
  networks chaotic: see :func:`prepare_row`), and the logits still have a
  spread;
- inputs: :func:`deploy.export._common.sample_inputs` (smooth random images,
  uniform token ids and lengths), seed 0 for the comparison, seed 1 for int8
  calibration;
- metrics over every output: max-abs difference, relative error (max-abs
  difference over the largest magnitude of the reference) and, for
  classifiers, top-1 agreement;
- tolerances: float32 artifacts (ONNX, TFLite float32) relative error
  <= 1e-4, TFLite float16 <= 1e-2; int8 of classifiers: top-1 agreement
  >= 90 %, or relative error <= INT8_RELATIVE_TOLERANCE (an untrained
  network's top-1 is often a near-tie); int8 of other tasks is reported,
  not judged;
- int8 input rounding: a classifier's float32 outputs on its int8 comparison
  inputs rounded to 256 levels (:func:`input_rounding`), shown beside a
  failed int8 cell: how far the network alone moves under that perturbation.
"""
import argparse
import datetime
import json
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

COLUMNS = ("mxnet_int8", "onnx", "tflite_float32", "tflite_float16", "tflite_int8")
HEADINGS = {"mxnet_int8": "MXNet int8", "onnx": "ONNX", "tflite_float32": "TFLite float32",
            "tflite_float16": "TFLite float16", "tflite_int8": "TFLite int8"}
RELATIVE_TOLERANCE = {"onnx": 1e-4, "tflite_float32": 1e-4, "tflite_float16": 1e-2}
MIN_AGREEMENT = 0.9
# An int8 classifier whose logits moved by less than this (relative error) keeps its
# clear decisions; its disagreements are near-ties of an untrained network.
INT8_RELATIVE_TOLERANCE = 0.05
INT8_COLUMNS = ("mxnet_int8", "tflite_int8")
VERIFY_SAMPLES = 8
QUANT_SAMPLES = 32
CALIB_SAMPLES = 64
SEED = 0
DEGENERATE_SPREAD = 1e-6  # a reference output flatter than this says nothing about parity


def run_row(name, work_dir, columns=COLUMNS):
    """Export model ``name`` in every column's format and measure each artifact.

    Returns
    -------
    dict
        column -> cell: ``{"ok": bool, "precision", "max_abs", "rel",
        "agreement", "reason", "seconds"}`` (numbers None where they do not
        apply).
    """
    _TFLITE_CACHE.clear()
    net, config, inputs, calib = prepare_row(name)
    reference = _outputs(net, inputs)
    quant_inputs = sample_inputs(config, QUANT_SAMPLES, seed=2)
    quant_reference = _outputs(net, quant_inputs)
    row = {"task": config.task, "cells": {},
           "reference_spread": _spread(reference)}
    if any(c in INT8_COLUMNS for c in columns):
        rounding = input_rounding(net, config, calib, quant_inputs, quant_reference)
        if rounding is not None:
            row["int8_input_rounding"] = rounding
    work_dir = Path(work_dir)
    for column in columns:
        start = time.perf_counter()
        try:
            cell = _CELLS[column](net, config, work_dir / column, inputs, reference, calib,
                                  quant_inputs, quant_reference)
        except Exception as exc:  # every failure is a finding of the matrix
            cell = {"ok": False, "reason": one_line_reason(exc)}
        cell["seconds"] = round(time.perf_counter() - start, 1)
        row["cells"][column] = cell
    _TFLITE_CACHE.clear()
    return row


def prepare_row(name):
    """The row's block, config, comparison inputs and calibration inputs.

    A part (``"vae_mlp.decoder"``) is taken from its whole model, initialized
    as that model's own row is.

    BatchNorm running statistics stay at the init's mean 0 and variance 1, so
    each BatchNorm applies only its gamma and beta. Statistics from data (what
    MXNet records in a training-mode batch's backward pass) center every layer,
    and centered random ReLU networks are chaotic: rounding only the input to
    int8's 256 levels then flips a quarter to half of a random MobileNet's
    decisions, and an int8 verdict would measure the weights, not the
    conversion. He initialization without them still gives every row's logits
    a spread (``DEGENERATE_SPREAD``); ``tests/test_export_matrix.py`` keeps both
    facts checked.
    """
    import mxnet as mx

    from gluon_dl.models import get_model, get_part, list_parts
    mx.random.seed(SEED)
    np.random.seed(SEED)
    model, part = name.rsplit(".", 1) if name in list_parts() else (name, None)
    net = get_model(model)
    net.initialize(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2))
    # One sample through the network right away: deferred parameters take their values
    # in the order of the forward pass, the same whether the network is hybridized later.
    net(*[mx.nd.array(a[:1], dtype=a.dtype) for a in sample_inputs(net.config, 1, seed=1)])
    _scale_residual_branches(net, RESIDUAL_BRANCH_SCALE)
    if part is not None:
        net = get_part(net, part)
    config = net.config
    inputs = sample_inputs(config, VERIFY_SAMPLES, seed=SEED)
    calib = sample_inputs(config, CALIB_SAMPLES, seed=1)
    net.hybridize()
    return net, config, inputs, calib


def input_rounding(net, config, calib, inputs, reference):
    """What rounding the input to int8 alone does to a classifier's float32 outputs.

    The first input is rounded to 256 levels spanning its calibration
    range (the grid an int8 input quantizer puts it on) and run through the
    float32 network: ``{"rel": relative error, "agreement": top-1
    agreement}`` with ``reference``.  A network whose decisions are
    near-ties, or which amplifies small perturbations (as random-weight
    MobileNet v2s do), changes here already, so a failed int8 cell is read
    against it.  None for other tasks and non-float inputs.
    """
    if config.task != "classification" or not config.inputs[0].dtype.startswith("float") \
            or reference[0].ndim != 2 or reference[0].shape[1] < 2:
        return None
    low, high = float(calib[0].min()), float(calib[0].max())
    step = (high - low) / 255 or 1.0
    rounded = (np.round((np.clip(inputs[0], low, high) - low) / step) * step + low)
    got = _outputs(net, [rounded.astype(inputs[0].dtype)] + list(inputs[1:]))
    rel = float(np.abs(got[0] - reference[0]).max() / max(np.abs(reference[0]).max(), 1e-30))
    agreement = float(np.mean(got[0].argmax(1) == reference[0].argmax(1)))
    return {"rel": rel, "agreement": agreement}


def sample_inputs(config, n, seed):
    """``n`` samples of every input of ``config`` as numpy arrays (the matrix's inputs)."""
    from deploy.export._common import sample_inputs as draw
    return [np.asarray(a) for a in draw(config, n=n, seed=seed)]


# The scale of each residual branch's last layer against the stream it adds to.
RESIDUAL_BRANCH_SCALE = 0.5
_ADDITIONS = frozenset({"elemwise_add", "broadcast_add", "_Plus", "_plus", "_add", "add_n",
                        "ElementWiseSum"})
_BRANCH_ENDS = {"BatchNorm": 1, "Convolution": 1}  # operator: input index of its scale


def residual_branch_ends(net):
    """The parameters that scale the layers whose output only feeds an addition.

    A BatchNorm's gamma or a convolution's weight (biases start at zero).
    Those layers end the residual branches: the last BatchNorm in ResNet v1
    and MobileNet v2 blocks, the last convolution in ResNet v2 (pre-activation)
    and plain residual blocks; a projecting shortcut (ResNet v1's convolution +
    BatchNorm, ResNet v2's convolution) is one too, and scaling it with the
    branch scales that block's output. A layer whose output also goes
    elsewhere, as a block's input does on its way to the next addition, is not
    one. Found in the traced graph, so any network built from Gluon layers is
    covered; empty for networks without BatchNorm (the temporal convolution
    networks' blocks end in an activation, and a projecting shortcut there
    would be the only layer found).
    """
    import mxnet as mx
    if not any(name.endswith("running_mean") for name in net.collect_params()):
        return []
    out = net(*[mx.sym.var(name) for name in net.config.input_names])
    out = mx.sym.Group(list(out)) if isinstance(out, (list, tuple)) else out
    nodes = json.loads(out.tojson())["nodes"]
    consumers = {}
    for node in nodes:
        for source, *_ in node["inputs"]:
            consumers.setdefault(source, []).append(node["op"])
    params = net.collect_params()
    found = []
    for index, node in enumerate(nodes):
        ops = consumers.get(index, [])
        if node["op"] in _BRANCH_ENDS and ops and all(op in _ADDITIONS for op in ops):
            scale = nodes[node["inputs"][_BRANCH_ENDS[node["op"]]][0]]["name"]
            if scale in params:
                found.append(params[scale])
    return found


def _scale_residual_branches(net, scale):
    """Start every residual branch's last layer at ``scale`` times its initialization.

    Trained residual networks keep a branch's contribution small against the
    stream it adds to (Goyal et al. 2017 start the last BatchNorm scale of each
    branch at 0; Fixup, Zhang et al. 2019, the last convolution); at He
    initialization each branch adds as much as the stream, and a deep stack of
    them amplifies small input changes: random MobileNet v2s flipped 9-16% of
    their decisions when the input alone was rounded to int8's 256 levels (0.5:
    none flipped, MXNet int8 agreement 78% -> 97% on mobilenetv2_1.0), and a
    ResNet-152 v2's logits spanned 1.6e8 (0.5: 343; MXNet int8 agreement 66% ->
    100%). ``net``'s parameters must be initialized (not deferred).
    """
    for param in residual_branch_ends(net):
        param.set_data(param.data() * scale)


def _outputs(net, inputs):
    from deploy.export._verify import reference_outputs
    out = reference_outputs(net, inputs if len(inputs) > 1 else inputs[0])
    return [np.asarray(o, np.float32) for o in (out if isinstance(out, list) else [out])]


def _spread(outputs):
    return float(min(np.ptp(o) if o.size else 0.0 for o in outputs))


def _compare(artifact, inputs, reference, precision, column, task):
    from deploy.runtime import load
    predictor = load(artifact)
    got = predictor.predict(*inputs, normalize=False)
    got = [np.asarray(o, np.float32) for o in (got if isinstance(got, (list, tuple)) else [got])]
    if [g.shape for g in got] != [r.shape for r in reference]:
        return {"ok": False, "precision": precision,
                "reason": f"outputs of shapes {[g.shape for g in got]}, the MXNet model "
                          f"{[r.shape for r in reference]}"}
    max_abs = max(float(np.abs(g - r).max()) for g, r in zip(got, reference))
    rel = max(float(np.abs(g - r).max() / max(np.abs(r).max(), 1e-30))
              for g, r in zip(got, reference))
    agreement = None
    if task == "classification" and reference[0].ndim == 2 and reference[0].shape[1] > 1:
        agreement = float(np.mean(got[0].argmax(1) == reference[0].argmax(1)))
    cell = {"precision": precision, "max_abs": max_abs, "rel": rel, "agreement": agreement}
    cell["ok"], cell["reason"] = _judge(column, cell, _spread(reference))
    return cell


def _judge(column, cell, spread):
    """``(ok, reason)`` of a measured cell under the matrix's tolerances."""
    if spread < DEGENERATE_SPREAD:
        return False, f"reference outputs are flat (spread {spread:.1e})"
    if column in RELATIVE_TOLERANCE:
        tol = RELATIVE_TOLERANCE[column]
        return (cell["rel"] <= tol,
                None if cell["rel"] <= tol else f"relative error {cell['rel']:.2g} > {tol:g}")
    if cell["agreement"] is not None and cell["agreement"] < MIN_AGREEMENT \
            and cell["rel"] > INT8_RELATIVE_TOLERANCE:
        return False, (f"top-1 agreement {cell['agreement']:.0%} < {MIN_AGREEMENT:.0%} with "
                       f"relative error {cell['rel']:.2g} > {INT8_RELATIVE_TOLERANCE:g}")
    return True, None


def rejudge(cache):
    """Apply the current tolerances to every measured cell of ``cache`` (in place).

    A verdict is a function of the stored numbers, so a change of tolerance
    needs no export; cells without numbers (export errors) keep theirs.
    """
    for row in cache["rows"].values():
        spread = row.get("reference_spread")
        for column, cell in row["cells"].items():
            if cell.get("rel") is not None and spread is not None:
                cell["ok"], cell["reason"] = _judge(column, cell, spread)
    return cache


def _onnx_cell(net, config, out, inputs, reference, *_):
    from deploy.export import onnx as onnx_export
    path = onnx_export.export(net, out / f"{config.name}.onnx", config=config, verify=False)
    return _compare(path, inputs, reference, "float32", "onnx", config.task)


def _tflite_cells(net, config, out, inputs, reference, calib, quant_inputs, quant_reference):
    """All three TFLite columns from one conversion (memoized on the output folder)."""
    from deploy.export import tflite
    key = str(out.parent)
    if key not in _TFLITE_CACHE:
        precisions = ["float32", "float16", int8_precision(config)]
        try:
            paths = tflite.export_many(net, out.parent / "tflite", precisions=precisions,
                                       config=config, calib_data=calib, verify=False)
        except Exception:  # noqa: BLE001 - then each precision alone: one may fail alone
            paths = {}
            for precision in precisions:
                try:
                    paths.update(tflite.export_many(
                        net, out.parent / f"tflite-{precision}", precisions=[precision],
                        config=config, calib_data=calib, verify=False))
                except Exception as exc:  # noqa: BLE001 - every failure is a finding
                    paths[precision] = exc
        _TFLITE_CACHE[key] = paths
    return _TFLITE_CACHE[key]


_TFLITE_CACHE = {}


def _tflite_column(precision_of):
    def cell(net, config, out, inputs, reference, calib, quant_inputs, quant_reference):
        paths = _tflite_cells(net, config, out, inputs, reference, calib, quant_inputs,
                              quant_reference)
        precision = precision_of(config)
        if isinstance(paths.get(precision), Exception):
            raise paths[precision]
        column = "tflite_int8" if precision in ("int8", "dynamic_range") else \
            f"tflite_{precision}"
        if column == "tflite_int8":
            return _compare(paths[precision], quant_inputs, quant_reference, precision,
                            column, config.task)
        return _compare(paths[precision], inputs, reference, precision, column, config.task)
    return cell


def int8_precision(config):
    """Full-integer int8 for float inputs; dynamic-range int8 for token ids.

    Token ids cannot be quantized (they index embeddings), and recurrent or
    attention layers lose too much with int8 activations; dynamic-range
    quantization keeps activations in float and stores the weights in int8.
    """
    if all(spec.dtype.startswith("float") for spec in config.inputs) \
            and config.task not in ("language-model", "seq2seq", "pretraining",
                                    "sequence-recognition"):
        return "int8"
    return "dynamic_range"


def _mxnet_int8_cell(net, config, out, inputs, reference, calib, quant_inputs,
                     quant_reference):
    from deploy.export import mxnet as mxnet_export
    from deploy.quantize import quantize_mxnet
    qnet = quantize_mxnet(net, calib[0], calib_mode="naive")  # refuses several inputs
    path = mxnet_export.export(qnet, out / config.name, config=config, precision="int8",
                               verify=False)
    return _compare(path, quant_inputs, quant_reference, "int8", "mxnet_int8", config.task)


_CELLS = {
    "mxnet_int8": _mxnet_int8_cell,
    "onnx": _onnx_cell,
    "tflite_float32": _tflite_column(lambda c: "float32"),
    "tflite_float16": _tflite_column(lambda c: "float16"),
    "tflite_int8": _tflite_column(int8_precision),
}


def one_line_reason(exc):
    """One line: the error class and the first sentence-sized part of its message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = re.sub(r"/\S*/([^/\s]+\.(?:onnx|tflite|json))", r"\1", text)  # temporary folders
    from gluon_dl.errors import GluonDLError
    if not isinstance(exc, GluonDLError):  # a raw error: say where it came from
        frame = traceback.extract_tb(exc.__traceback__)[-1:] or [None]
        where = f" ({Path(frame[0].filename).name}:{frame[0].lineno})" if frame[0] else ""
        text = f"{type(exc).__name__}{where}: {text}"
    return text if len(text) <= 300 else text[:297] + "..."


# -- the cache and the document ---------------------------------------------------------------

def versions():
    """Versions of the stack that produced the matrix."""
    found = {"python": sys.version.split()[0], "numpy": np.__version__}
    for module in ("mxnet", "onnx", "onnxruntime", "onnxsim", "onnx2tf", "tensorflow",
                   "ai_edge_litert", "tflite_runtime"):
        try:
            mod = __import__(module)
            found[module] = getattr(mod, "__version__", "installed")
        except ImportError:
            found[module] = None
    return found


def load_cache(path):
    path = Path(path)
    if not path.is_file():
        return {"rows": {}}
    return json.loads(path.read_text())


def save_cache(path, cache):
    from gluon_dl.utils.io import atomic_output_path
    with atomic_output_path(path) as tmp:
        Path(tmp).write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")


def render(cache, names):
    """The Markdown document for ``names`` (rows missing from ``cache`` say so)."""
    lines = [
        "# Export matrix", "",
        "Every registered model, and every registered model part (`vae_mlp.decoder`: "
        "`gluon_dl.models.list_parts`), exported to each deployment format, run in that "
        "format's runtime and compared with the MXNet float32 model. Generated by "
        "`python -m deploy.matrix --out docs/export_matrix.md` (one row: `--models NAME`); "
        "per-row results are cached in `docs/export_matrix.json`.", "",
        "## Method", "",
        "- **Weights**: He-normal initialization (seed 0); in networks with BatchNorm the last "
        "layer of each residual branch (its BatchNorm in ResNet v1 and MobileNet v2, its "
        f"convolution in ResNet v2) scaled by {RESIDUAL_BRANCH_SCALE}, as trained residual "
        "networks keep a branch small against its shortcut (at full scale a random MobileNet "
        "v2 flipped 9-16% of its decisions when its input alone was rounded to 256 levels, and "
        "a random ResNet-152 v2's logits spanned 1.6e8); BatchNorm running statistics left at the init's mean 0 and variance 1, so "
        "each BatchNorm applies only its scale and shift. He initialization gives every row's "
        "logits a spread without them; statistics from data (recorded in training-mode "
        "passes with their backward pass, where MXNet updates them) center every layer, and "
        "centered random networks are chaotic: rounding only the input to 256 levels then "
        "moved the logits of the ImageNet rows by 2-27% of their range and flipped up to "
        "half of their decisions (MobileNet v1 25-53%, ResNet-152 v1 38%), against at most "
        "1.3% and 3% with the init's statistics, and int8 verdicts would measure the "
        "weights, not the conversion. Without centering, a residual network's stream grows "
        "with depth; the half-scale branches keep it in check (ResNet-152 v2's logits span "
        "343).",
        f"- **Inputs**: `deploy.export._common.sample_inputs`: smooth random images (Gaussian "
        f"blobs), uniform token ids/lengths/noise. {VERIFY_SAMPLES} samples (seed 0) for float "
        f"artifacts, {QUANT_SAMPLES} (seed 2) for int8; int8 calibrated on {CALIB_SAMPLES} "
        f"(seed 1).",
        "- **Metrics** (over every output): max-abs difference; relative error = max-abs "
        "difference / max |reference|; top-1 agreement for classifiers.",
        "- **Tolerances**: ONNX and TFLite float32 relative error <= 1e-4, TFLite float16 "
        "<= 1e-2; int8 of classifiers top-1 agreement >= 90 %, or relative error <= "
        f"{INT8_RELATIVE_TOLERANCE:g} where it is lower: with untrained weights a 1000-way "
        "classifier's top-1 is often a near-tie that any rounding flips, while a logit change "
        f"under {INT8_RELATIVE_TOLERANCE:.0%} of the largest logit keeps every clear decision; "
        "int8 of other tasks reported only. A reference whose outputs are flat (spread < 1e-6) "
        "fails every cell: it cannot show parity.",
        "- **TFLite int8**: full-integer (int8 weights, activations, input and output) for "
        "float-input CNNs and MLPs; dynamic-range (int8 weights, float activations; marked "
        "*dr*) for token inputs, recurrent and attention models. **MXNet int8**: oneDNN "
        "post-training quantization (`deploy.quantize.quantize_mxnet`, naive calibration; "
        "global average pooling and residual additions whose shortcut has another sign than "
        "the sum kept in float32).",
        "- **int8 input rounding**: a classifier's int8 comparison inputs are also rounded to "
        "256 levels over the calibration range (what quantizing the input alone does) and run "
        "in MXNet float32; a failed int8 cell shows that change beside its own. Where the "
        "rounding alone moves the logits by a few percent and flips decisions, the random-weight "
        "network amplifies any small perturbation (as MobileNet v2 did with its residual "
        "branches at full scale), and its int8 verdict says more about those weights than about "
        "the conversion; where it moves them far less than the int8 cell did, the difference is "
        "the quantization's.",
        "- ✓ within tolerance, ✗ failed (export error, or outside tolerance), with the reason.",
        "",
        "## Versions", "",
    ]
    for module, version in sorted((cache.get("versions") or {}).items()):
        lines.append(f"- {module}: {version or 'not installed'}")
    lines += ["", "## Results", "",
              "| model | " + " | ".join(HEADINGS[c] for c in COLUMNS) + " |",
              "|---" * (len(COLUMNS) + 1) + "|"]
    for name in names:
        row = cache["rows"].get(name)
        if row is None:
            lines.append(f"| {name} | " + " | ".join("not generated" for _ in COLUMNS) + " |")
            continue
        lines.append(f"| {name} | " + " | ".join(
            _cell_text(row["cells"].get(c), row.get("int8_input_rounding")
                       if c in INT8_COLUMNS else None) for c in COLUMNS) + " |")
    lines.append("")
    return "\n".join(lines)


def _cell_text(cell, rounding=None):
    """A cell as the document shows it; ``rounding``: the row's int8 input rounding, shown
    beside a failed int8 cell's numbers."""
    if cell is None:
        return "not generated"
    parts = []
    if cell.get("max_abs") is not None:
        tag = " *dr*" if cell.get("precision") == "dynamic_range" else ""
        parts.append(f"{cell['max_abs']:.1e} (rel {cell['rel']:.1e}){tag}")
    if cell.get("agreement") is not None:
        parts.append(f"top-1 {cell['agreement']:.0%}")
    if cell.get("reason"):
        parts.append(cell["reason"].replace("|", "/"))
    if rounding is not None and not cell.get("ok") and cell.get("rel") is not None:
        parts.append(f"float32 with the input rounded to int8 alone: rel "
                     f"{rounding['rel']:.2g}, top-1 {rounding['agreement']:.0%}")
    return ("✓ " if cell.get("ok") else "✗ ") + "; ".join(parts)


# -- command line -----------------------------------------------------------------------------

def row_names():
    """The matrix's rows: every registered model and part, a part's row after its model's."""
    from gluon_dl.models import list_models, list_parts
    return sorted(list_models() + list_parts())


def generate(names, json_path, jobs=1, log=print, columns=COLUMNS):
    """Regenerate the rows of ``names`` into the cache at ``json_path``; return the cache.

    With fewer ``columns`` than all, only those cells of each row are
    regenerated and the row's other cells are kept (a row not yet cached gets
    every column).
    """
    cache = load_cache(json_path)
    cache["versions"] = versions()
    if jobs > 1:
        import concurrent.futures
        import multiprocessing
        pool = concurrent.futures.ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1)
        with pool:
            futures = {pool.submit(_row_in_tempdir, n, _columns_of(cache, n, columns)): n
                       for n in names}
            for future in concurrent.futures.as_completed(futures):
                _store(cache, json_path, futures[future], future.result(), log)
    else:
        for name in names:
            _store(cache, json_path, name,
                   _row_in_tempdir(name, _columns_of(cache, name, columns)), log)
    return cache


def _columns_of(cache, name, columns):
    return tuple(columns) if name in cache["rows"] else COLUMNS


def _row_in_tempdir(name, columns=COLUMNS):
    with tempfile.TemporaryDirectory(prefix=f"matrix-{name}-") as tmp:
        row = run_row(name, tmp, columns=columns)
    row["generated"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    return row


def _store(cache, json_path, name, row, log):
    old = cache["rows"].get(name)
    if old is not None and set(row["cells"]) != set(COLUMNS):
        # the row's own measurements (the int8 input rounding) stay unless measured again
        row = {**old, **row, "cells": {**old["cells"], **row["cells"]}}
    cache["rows"][name] = row
    save_cache(json_path, cache)
    log(f"{name}: " + ", ".join(f"{c} {'ok' if row['cells'][c]['ok'] else 'FAIL'}"
                                for c in row["cells"]))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m deploy.matrix", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="docs/export_matrix.md", help="Markdown document")
    parser.add_argument("--json", default=None,
                        help="per-row cache (default: the document's path with .json)")
    parser.add_argument("--models", default=None,
                        help="shell patterns (comma-separated) of the rows to regenerate, "
                        "models or parts ('vqvae*' is vqvae and vqvae.decoder; default: all)")
    parser.add_argument("--columns", default=",".join(COLUMNS),
                        help=f"comma-separated columns to regenerate in cached rows, the "
                        f"others kept (default: all of {','.join(COLUMNS)})")
    parser.add_argument("--jobs", type=int, default=1, help="rows exported in parallel")
    parser.add_argument("--render-only", action="store_true",
                        help="write the document from the cache without exporting")
    args = parser.parse_args(argv)
    import fnmatch

    out = Path(args.out)
    json_path = Path(args.json) if args.json else out.with_suffix(".json")
    every = row_names()
    if args.render_only:
        cache = load_cache(json_path)
        save_cache(json_path, rejudge(cache))
    else:
        patterns = (args.models or "*").split(",")
        names = sorted({n for pattern in patterns for n in fnmatch.filter(every, pattern.strip())})
        columns = [c.strip() for c in args.columns.split(",") if c.strip()]
        unknown = sorted(set(columns) - set(COLUMNS))
        if unknown or not columns:
            parser.error(f"--columns takes some of {', '.join(COLUMNS)}; got {args.columns!r}")
        cache = generate(names, json_path, max(1, args.jobs), columns=columns)
    from gluon_dl.utils.io import atomic_output_path
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output_path(out) as tmp:
        Path(tmp).write_text(render(cache, every))
    return 0


if __name__ == "__main__":
    sys.exit(main())
