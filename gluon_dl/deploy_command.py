"""``gluon-dl deploy``: one model through prune -> quantize -> export -> verify -> report.

MODEL is either

* a registered name (``gluon-dl models``) with weights from ``--checkpoint``
  (a gluon-dl training checkpoint; without one the weights are random and a
  warning says so); ``--part NAME`` exports one registered part of it instead
  (``gluon-dl deploy vae_mlp --part decoder``: the part a device runs, see
  :func:`gluon_dl.models.get_part`; the checkpoint is the whole model's), or
* an MXNet ``prefix-symbol.json`` with its ``prefix-NNNN.params`` beside it,
  exported from anywhere (``HybridBlock.export``, GluonCV's ``export_block``):
  ``--input-shape`` (batch axis first) is required, ``--mean``, ``--std`` and
  ``--labels`` describe the input and the classes; a :class:`ModelConfig` is
  built from them.

Representative inputs (int8 calibration, and the rows of the report):

1. ``--calib FILE``: raw inputs as ``gluon-dl predict`` reads them (a ``.npy``
   batch in the model's layout, floats in its input range or uint8 pixels; a
   model with several inputs takes an ``.npz`` holding one array per input
   name), read with ``allow_pickle=False`` after the header check;
2. else ``--data NAME``: a registered image data set (calibration from its
   training split, the report's rows from its test split, with an accuracy
   column);
3. else, for a registered image classifier, the embedded MNIST digits
   (``mnist-5k``), channels converted and resized to the model's input;
4. else, for a registered model of another kind, samples drawn from each
   input's value range (the log says the int8 model is then calibrated on
   synthetic inputs).

A symbol file without ``--calib`` skips int8 with a message: nothing says
what its inputs look like, and an int8 model calibrated on noise would pass
verification yet fail on real data.

Results are staged beside ``--out`` and published with a manifest, under
the rules of :mod:`gluon_dl.utils.outdir` (``--overwrite`` replaces only an
earlier gluon-dl run).
"""
import dataclasses
import numbers
import time
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import ArgumentError, ModelFileError
from .utils.outdir import check_output_dir, staged_output

SYMBOL_SUFFIX = "-symbol.json"
CALIB_SAMPLES = 256
EVAL_SAMPLES = 64
LATENCY_RUNS = 30
MAX_LABELS_BYTES = 1 << 20
DEFAULT_IMAGE_DATA = "mnist-5k"  # embedded: calibration works offline
_LAYOUTS = {2: "NC", 3: "NCW", 4: "NCHW", 5: "NCDHW"}


@dataclasses.dataclass
class DeployResult:
    """What :func:`run_deploy` wrote: rows of the report, its summary and the files."""

    out_dir: Path
    results: list
    summary: dict
    files: dict


@dataclasses.dataclass(frozen=True)
class Inputs:
    """Representative inputs, raw (what Predictor.predict takes), one array per input.

    ``raw`` calibrates; ``evaluation`` (default: the first samples of ``raw``)
    fills the report, with true ``labels`` when a labelled set gave them.
    """

    raw: list
    labels: object
    source: str
    evaluation: Optional[list] = None

    def for_report(self):
        """``(raw inputs, labels)`` for the report's rows."""
        if self.evaluation is not None:
            return self.evaluation, self.labels
        return [x[:EVAL_SAMPLES] for x in self.raw], None


def normalized(raw, config):
    """Raw inputs as the network sees them: the primary one normalized."""
    return [config.normalize(raw[0])] + list(raw[1:])


def run_deploy(out, model, *, checkpoint=None, input_shape=None, mean=None, std=None,
               labels=None, prune=None, structured=False, quantize=None, calib=None, data=None,
               formats=None, seed=0, overwrite=False, latency_runs=LATENCY_RUNS, log=print,
               part=None):
    """Export ``model`` in every format of ``formats`` into ``out``, each artifact verified.

    Parameters
    ----------
    out : str or Path
        Output folder (see :mod:`gluon_dl.utils.outdir`).
    model : str
        A registered model name, or a ``prefix-symbol.json`` file.
    checkpoint : str or Path, optional
        Weights of a registered model (gluon-dl checkpoint).
    part : str, optional
        Export this registered part of the model (``"decoder"``) instead of
        the whole model; ``checkpoint`` still holds the whole model.
    input_shape : sequence of int, optional
        For a symbol file: its input shape, batch axis first.
    mean, std : sequence of float, optional
        Normalization of the input (per channel or one value).
    labels : str or Path, optional
        Text file, one class name per line.
    prune : float, optional
        Sparsity in [0, 1): one-shot magnitude pruning of conv/dense weights.
    structured : bool
        Prune whole channels instead (``deploy.prune.structured.prune_channels``).
    quantize : {None, "int8"}
        Also write int8 artifacts (MXNet quantize_net, TFLite full-integer).
    calib : str or Path, optional
        Representative raw inputs (see the module docstring).
    data : str, optional
        A registered image data set for calibration and accuracy.
    formats : sequence of str, optional
        Registered export formats (default: all).
    seed : int
        Seeds the random weights and the choice of samples.
    overwrite : bool
    latency_runs : int
    log : callable

    Returns
    -------
    DeployResult

    Raises
    ------
    ArgumentError, UnknownNameError
        For a bad option, model or format name (one line in the CLI).
    ModelFileError, DataError, ConversionError, VerificationError, OutputExistsError
    """
    check_output_dir(out, overwrite)
    formats = check_formats(formats)
    _check_options(prune, structured, quantize, model, input_shape)
    started = time.perf_counter()
    net, config, origin = load_model(model, checkpoint=checkpoint, input_shape=input_shape,
                                     mean=mean, std=std, labels=labels, seed=seed, log=log,
                                     part=part)
    inputs = representative_inputs(config, origin, calib=calib, data=data, seed=seed, log=log)
    details = {"model": str(model), "part": part, "formats": formats, "prune": prune,
               "structured": structured, "quantize": quantize, "inputs": inputs.source}
    with staged_output(out, "deploy", overwrite=overwrite, details=details) as staged:
        result = _run(staged.path, net, config, origin, inputs, formats, prune, structured,
                      quantize, latency_runs, log)
        result.summary["seconds"] = round(time.perf_counter() - started, 1)
    result.out_dir = staged.target
    result.files = {k: staged.published(v) for k, v in result.files.items()}
    return result


def check_formats(formats):
    """The registered format names asked for (all by default); UnknownNameError otherwise."""
    from deploy.export import get_format, list_formats
    if formats is None:
        return list_formats()
    names = [get_format(f.strip()).name for f in formats if f.strip()]
    if not names:
        raise ArgumentError(f"--formats names no format; choose from {', '.join(list_formats())}")
    return list(dict.fromkeys(names))


def _check_options(prune, structured, quantize, model, input_shape):
    if prune is not None and not (isinstance(prune, numbers.Real) and not isinstance(prune, bool)
                                  and 0.0 <= prune < 1.0):
        raise ArgumentError(f"--prune takes a sparsity from 0 to below 1 (0.5 zeroes half the "
                            f"weights), got {prune!r}")
    if structured and prune is None:
        raise ArgumentError("--structured says how to prune: give the sparsity with --prune")
    if quantize not in (None, "int8"):
        raise ArgumentError(f"--quantize takes int8, got {quantize!r}")
    if input_shape is not None and not _is_symbol_file(model):
        raise ArgumentError(f"--input-shape describes a symbol file; the registered model "
                            f"'{model}' takes the input its config gives")


# --- the model ------------------------------------------------------------------------------

def load_model(model, *, checkpoint=None, input_shape=None, mean=None, std=None, labels=None,
               seed=0, log=print, part=None):
    """``(net, config, origin)``: the network, its ModelConfig and "registry" or "symbol".

    With ``part``, the network is that registered part of the model (its
    weights from the whole model's ``checkpoint``).
    """
    import mxnet as mx

    mx.random.seed(seed)
    np.random.seed(seed)
    label_names = read_labels(labels) if labels is not None else None
    if _is_symbol_file(model):
        if checkpoint is not None:
            raise ArgumentError("--checkpoint loads weights into a registered model; a symbol "
                                "file brings its .params")
        if part is not None:
            raise ArgumentError("--part takes a registered part of a registered model "
                                "(`gluon-dl deploy vae_mlp --part decoder`); a symbol file "
                                "has none")
        net, config = load_symbol_file(model, input_shape, mean, std, label_names)
        return net, config, "symbol"
    if Path(str(model)).is_file():
        raise ArgumentError(f"{model} is a file but not an MXNet {SYMBOL_SUFFIX}; pass a "
                            f"registered model name (`gluon-dl models`) or a symbol file")
    from .models import get_model, get_part
    net = get_model(model)
    if part is not None:
        get_part(net, part)  # an unknown part fails before the checkpoint is read
    if checkpoint is not None:
        from .training.checkpoint import load_checkpoint
        load_checkpoint(checkpoint, net)
    else:
        net.initialize(mx.init.Xavier())
        log(f"warning: no --checkpoint: '{model}' has random weights; the artifacts show the "
            f"pipeline, not a trained model")
    if part is not None:
        net = get_part(net, part)  # shares the whole model's (loaded) parameters
    config = _override(net.config, mean, std, label_names)
    from deploy.export import trace
    trace(net, config)  # one forward: deferred shapes become known before pruning
    return net, config, "registry"


def load_symbol_file(path, input_shape, mean=None, std=None, labels=None):
    """A SymbolBlock from ``prefix-symbol.json`` + its ``.params``, and the config described."""
    import warnings

    import mxnet as mx

    from deploy.runtime.backends.mxnet import params_path

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"symbol file {path} does not exist; export the model with "
                             f"HybridBlock.export(prefix) or pass a registered model name")
    if input_shape is None:
        raise ArgumentError(f"{path.name} is a symbol file: give its input shape with "
                            f"--input-shape, batch axis first (e.g. 1,3,224,224)")
    params = params_path(path)
    try:
        sym = mx.sym.load(str(path))
        names = {k.split(":", 1)[-1] for k in mx.nd.load(str(params))}
        inputs = [n for n in sym.list_inputs() if n not in names]
        if len(inputs) != 1:
            raise ArgumentError(f"{path.name} takes the inputs {inputs}; gluon-dl deploy reads "
                                f"symbol files with one input (one --input-shape)")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Cannot decide type", UserWarning)
            net = mx.gluon.SymbolBlock(sym, [mx.sym.var(inputs[0])])
        net.collect_params().load(str(params), ctx=mx.cpu(), cast_dtype=True,
                                  dtype_source="saved")
    except (mx.MXNetError, ValueError, AssertionError) as exc:
        if isinstance(exc, ArgumentError):
            raise
        reason = " ".join(str(exc).split())[:200]
        raise ModelFileError(f"{path} or {params.name} could not be loaded by MXNet ({reason}); "
                             f"export them again") from None
    net = _one_input(net, sym)
    net.hybridize()
    config = symbol_config(net, path, inputs[0], input_shape, mean, std, labels)
    return net, config


def _one_input(block, sym):
    """``block`` (loaded from ``sym``) behind a HybridBlock that takes exactly one input.

    A SymbolBlock accepts (and caches) calls with extra arguments, and
    MXNet's quantize_net calls the network with ``(data, label)`` expecting a
    TypeError when the label is not an input; the wrapper gives it one.  It
    also tells the pruner which parameters are weights of convolutions and
    dense layers (the pruning registry's opt-in protocol), which a
    SymbolBlock's layer types no longer say.
    """
    import json

    import mxnet as mx

    nodes = json.loads(sym.tojson())["nodes"]

    class SingleInput(mx.gluon.HybridBlock):
        def __init__(self, inner, weight_names):
            super().__init__(prefix="")
            self.inner = inner
            self._weight_names = weight_names

        def hybrid_forward(self, F, x):
            return self.inner(x)

        def get_prunable_weights(self):
            params = self.inner.collect_params()
            return [params[name] for name in self._weight_names if name in params]

    return SingleInput(block, _weight_names(nodes))


def _weight_names(nodes):
    """Names of the weight inputs of the Convolution/Deconvolution/FullyConnected nodes."""
    names = []
    for node in nodes:
        if node["op"] in ("Convolution", "Deconvolution", "FullyConnected"):
            weight = nodes[node["inputs"][1][0]]
            if weight["op"] == "null":
                names.append(weight["name"])
    return names


def symbol_config(net, path, input_name, input_shape, mean, std, labels):
    """The ModelConfig of a symbol file's block, from the options and one forward pass."""
    import mxnet as mx

    from .config import ModelConfig

    shape = tuple(input_shape)
    if len(shape) not in _LAYOUTS:
        raise ArgumentError(f"--input-shape {','.join(map(str, shape))} has {len(shape)} axes; "
                            f"give the batch axis and 1 to 4 more (e.g. 1,3,224,224)")
    try:
        out = net(mx.nd.zeros((1,) + shape[1:]))
    except mx.MXNetError as exc:
        reason = " ".join(str(exc).split())[:200]
        raise ArgumentError(f"{path.name} does not run on inputs of shape "
                            f"{(1,) + shape[1:]} from --input-shape ({reason}); give the shape "
                            f"it was exported for") from None
    outs = out if isinstance(out, (list, tuple)) else [out]
    classes = outs[0].shape[1] if len(outs) == 1 and outs[0].ndim == 2 else None
    if labels and classes is not None and len(labels) != classes:
        raise ArgumentError(f"the labels file holds {len(labels)} labels, {path.name} outputs "
                            f"{classes} scores; give one label per class")
    name = path.name[:-len(SYMBOL_SUFFIX)] or "model"
    fields = dict(
        name=name, input_shape=shape[1:], layout=_LAYOUTS[len(shape)], input_name=input_name,
        mean=tuple(mean) if mean else (0.0,), std=tuple(std) if std else (1.0,),
        num_classes=classes if (classes or 0) > 1 else None, labels=tuple(labels or ()),
        task="classification" if (classes or 0) > 1 else "inference")
    return ModelConfig(**fields)


def _override(config, mean, std, labels):
    changes = {}
    if mean is not None:
        changes["mean"] = tuple(mean)
    if std is not None:
        changes["std"] = tuple(std)
    if labels is not None:
        changes["labels"] = tuple(labels)
        changes["num_classes"] = len(labels)
    return config.replace(**changes) if changes else config


def read_labels(path):
    """Class names from a text file, one per line (blank lines at the end ignored)."""
    from .utils.io import why_not_a_file
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"labels file {path} {why_not_a_file(path)}; give a text file "
                             f"with one class name per line")
    if path.stat().st_size > MAX_LABELS_BYTES:
        raise ModelFileError(f"labels file {path} holds {path.stat().st_size} bytes; a labels "
                             f"file has one class name per line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"labels file {path} is not UTF-8 text ({exc})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ModelFileError(f"labels file {path} is empty; give one class name per line")
    return [line.strip() for line in lines]


def _is_symbol_file(model):
    return str(model).endswith(SYMBOL_SUFFIX)


# --- representative inputs ------------------------------------------------------------------

def representative_inputs(config, origin, *, calib=None, data=None, seed=0, log=print):
    """Raw representative inputs for calibration and the report (see the module docstring).

    Returns
    -------
    Inputs
        For a symbol file without ``calib``: synthetic samples for the report,
        its ``source`` saying that int8 is skipped.
    """
    if calib is not None:
        raw = read_calibration(calib, config)
        return Inputs(raw, None, f"--calib {Path(calib).name} ({len(raw[0])} samples)")
    if data is not None or (origin == "registry" and _is_image_model(config)):
        return _dataset_inputs(config, data or DEFAULT_IMAGE_DATA, explicit=data is not None,
                               seed=seed, log=log)
    from deploy.export._common import sample_inputs
    normalized = sample_inputs(config, n=CALIB_SAMPLES, seed=seed)
    raw = [_denormalize(normalized[0], config)] + normalized[1:]
    source = "synthetic samples of each input's value range"
    if origin == "symbol":
        return Inputs(raw, None, source + " (no --calib: int8 skipped)")
    log(f"calibrating on {source}; pass --calib with real inputs for a faithful int8 model")
    return Inputs(raw, None, source)


def read_calibration(path, config):
    """Raw inputs from ``path``: a .npy/.npz/image for one input, an .npz by name for several."""
    from deploy.inputs import load_input, read_named_arrays
    if len(config.inputs) == 1:
        return [load_input(path, config)]
    return read_named_arrays(path, config)


def _dataset_inputs(config, name, explicit, seed, log):
    """Calibration images from the set's training split; the report's from its test split."""
    from .data import dataset_info
    info = dataset_info(name)
    if info.kind != "image" or not _is_image_model(config):
        raise ArgumentError(f"--data {name} is a {info.kind} set; it calibrates image models "
                            f"(NCHW float inputs), and '{config.name}' takes {config.layout} "
                            f"{config.input_dtype}: pass --calib FILE")
    calib, _ = _images(info, "train", CALIB_SAMPLES, config, seed)
    evaluation, labels = _images(info, "test" if "test" in info.splits else "train",
                                 EVAL_SAMPLES, config, seed + 1)
    log(f"representative inputs: {len(calib)} training images of {info.name}, "
        f"{len(evaluation)} test images for the report")
    return Inputs(calib, labels if explicit and info.classes else None,
                  f"{info.name} ({len(calib)} images)", evaluation)


def _images(info, split, n, config, seed):
    """``n`` images of a split (a stratified choice) as the model's raw input, and labels."""
    from .data import load_dataset, train_test_split
    from .train import prepare_images
    X, y = load_dataset(info.name, split)
    if n < len(X):
        _, X, _, y = train_test_split(X, y, n, seed=seed)
    channels = config.input_shape[config.layout.index("C") - 1]
    have = X.shape[3] if X.ndim == 4 else 1
    normalized = prepare_images(X, config, convert_channels=have != channels)
    return [_denormalize(normalized, config)], y


def _is_image_model(config):
    return (config.takes_floats and len(config.layout) == 4
            and set(config.layout) == set("NCHW") and not config.extra_inputs)


def _denormalize(x, config):
    """The raw inputs whose normalization is ``x`` (inverts ``config.normalize``)."""
    if not config.takes_floats:
        return x
    zero = config.normalize(np.zeros_like(x, dtype=np.float32))
    one = config.normalize(np.ones_like(x, dtype=np.float32))
    return ((x - zero) / (one - zero)).astype(np.float32)


# --- the run --------------------------------------------------------------------------------

def _run(stage, net, config, origin, inputs, formats, prune, structured, quantize,
         latency_runs, log):
    from deploy import report
    from deploy.export._verify import reference_outputs

    from .demo import export_artifacts

    summary = {"model": f"{config.name} ({'registry' if origin == 'registry' else 'symbol file'})",
               "inputs": inputs.source}
    if prune is not None:
        net, summary["pruning"] = _prune(net, config, prune, structured, log)
    precisions = ["float32"]
    calib = None
    if quantize == "int8":
        if origin == "symbol" and inputs.source.endswith("int8 skipped)"):
            log("int8 skipped: a symbol file's inputs are unknown without --calib FILE.npy")
            summary["int8"] = "skipped: no --calib for a symbol file"
        else:
            precisions.append("int8")
            calib = normalized(inputs.raw, config)
    artifacts = export_artifacts(net, config, stage / "artifacts", calib, tuple(precisions),
                                 log, formats=formats)
    raw, labels = inputs.for_report()
    reference = reference_outputs(net, normalized(raw, config))
    reference = reference if isinstance(reference, list) else [reference]
    results = report.evaluate_artifacts(artifacts, raw, reference, labels=labels,
                                        latency_runs=latency_runs, log=log)
    files = report.write_reports(results, stage, summary,
                                 title=f"{config.name}: what each artifact costs")
    files["artifacts"] = stage / "artifacts"
    return DeployResult(out_dir=stage, results=results, summary=summary, files=files)


def _prune(net, config, sparsity, structured, log):
    if structured:
        prune_channels = _structured_pruner()
        net, pruned = prune_channels(net, sparsity, config=config)
        described = pruned.to_dict() if hasattr(pruned, "to_dict") else (
            pruned if isinstance(pruned, dict) else str(pruned))
        log(f"pruned channels to {sparsity:.0%}")
        return net, {"structured": True, "sparsity": sparsity, "report": described}
    from deploy.prune import prune_to_sparsity
    pruner = prune_to_sparsity(net, sparsity)
    achieved = pruner.overall_sparsity()
    pruner.strip()
    log(f"pruned conv/dense weights to {achieved:.1%} sparsity (one shot, no fine-tuning)")
    return net, {"structured": False, "sparsity": round(float(achieved), 4)}


def _structured_pruner():
    import importlib
    try:
        module = importlib.import_module("deploy.prune.structured")
    except ImportError as exc:
        raise ArgumentError(f"--structured needs deploy.prune.structured, which this "
                            f"installation lacks ({exc}); prune weights without --structured") \
            from None
    return module.prune_channels
