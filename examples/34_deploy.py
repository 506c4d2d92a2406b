"""Deployment: prune a trained CNN, export it to ONNX and TFLite int8, run it on the edge.

Any HybridBlock deploys once a ModelConfig describes its input (shape, layout, range,
mean/std, labels): the exporters and the edge runtime read everything from there.  The
default model is a small CNN defined right here, registered nowhere; --model lenet5 takes
one from the zoo instead.  The lesson trains it, prunes half its weights
(deploy.prune) and fine-tunes with the zeros kept, exports ONNX and an int8 TFLite file
(calibrated on training digits, each verified against MXNet), then runs both with
deploy.runtime.load, which needs only numpy and the runtime, and compares accuracy.
Data: mnist-5k; --data-root DIR reads the official MNIST.
Quick run: python examples/34_deploy.py --quick --out /tmp/deploy

Lesson: 34. Deployment: pruning, quantization and the edge runtime
"""
import functools

import numpy as np
from matplotlib.figure import Figure
from mxnet.gluon import nn

from deploy.export import onnx as onnx_export
from deploy.export import tflite as tflite_export
from deploy.prune import PruningCallback, prune_to_sparsity
from deploy.runtime import load
from gluon_dl import fit, get_model
from gluon_dl.data import ArrayLoader, to_model_input
from gluon_dl.lesson import Lesson, run
from gluon_dl.models import ModelConfig
from gluon_dl.training import evaluate_accuracy

CONFIG = ModelConfig(name="tinyconv", input_shape=(1, 28, 28), layout="NCHW", mean=(0.1307,),
                     std=(0.3081,), num_classes=10, labels=tuple("0123456789"))


class TinyConvNet(nn.HybridBlock):
    """A user's model: nothing gluon-dl registered, described by ``CONFIG`` alone."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.body = nn.HybridSequential()
            self.body.add(nn.Conv2D(16, 3, padding=1, activation="relu"), nn.MaxPool2D(2),
                          nn.Conv2D(32, 3, padding=1, activation="relu"), nn.MaxPool2D(2),
                          nn.Flatten(), nn.Dense(10))

    def hybrid_forward(self, F, x):
        return self.body(x)


def results_plot(accuracy, sizes):
    fig = Figure(figsize=(8, 3))
    left, right = fig.subplots(1, 2)
    left.bar(list(accuracy), list(accuracy.values()), color="C0")
    left.set_ylim(min(accuracy.values()) - 0.05, 1.0)
    left.set_title("test accuracy")
    right.bar(list(sizes), [s / 1024 for s in sizes.values()], color="C1")
    right.set_title("file size (KiB)")
    for ax, names in ((left, list(accuracy)), (right, list(sizes))):
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    return fig


def main():
    lesson = Lesson(__doc__, arguments=lambda p: p.add_argument(
        "--model", default=None, help="a registered model (default: the small CNN above)"))
    net = get_model(lesson.args.model) if lesson.args.model else TinyConvNet()
    config = net.config if lesson.args.model else CONFIG
    lesson.note("model", lesson.args.model or "tinyconv (a custom HybridBlock)")
    X_tr, y_tr, X_te, y_te = lesson.image_data(official="mnist", default="mnist-5k")
    n = lesson.pick(full=len(X_tr), quick=len(X_tr), smoke=512)
    prep = functools.partial(to_model_input, config=config)
    train = ArrayLoader(X_tr[:n], y_tr[:n], 64, shuffle=True, seed=lesson.args.seed,
                        transform=prep)
    test = ArrayLoader(X_te, y_te, 250, transform=prep)
    fit(net, train, lesson.pick(full=6, quick=2, smoke=1), lr=2e-3, progress=False)
    accuracy = {"MXNet float32": evaluate_accuracy(net, test)}

    pruner = prune_to_sparsity(net, 0.5)  # the smallest half of every layer's weights
    accuracy["pruned 50%"] = evaluate_accuracy(net, test)
    fit(net, train, lesson.pick(full=2, quick=1, smoke=1), lr=5e-4, progress=False,
        callbacks=[PruningCallback(pruner)])  # fine-tune; the masks keep the zeros
    pruner.strip()
    accuracy["fine-tuned"] = evaluate_accuracy(net, test)
    lesson.note("sparsity of the pruned weights", f"{pruner.overall_sparsity():.3f}")

    onnx_path = onnx_export.export(net, lesson.path(f"{config.name}.onnx"), config=config)
    tflite = tflite_export.export_many(onnx_path, lesson.out, config=config, stem=config.name,
                                       precisions=("int8",), calib_data=prep(X_tr[:200]),
                                       reference=net)
    raw = X_te.astype(np.float32)[:, None] / 255.0  # the edge side passes raw [0, 1] images
    sizes = {}
    for label, path in (("ONNX", onnx_path), ("TFLite int8", tflite["int8"])):
        predictor = load(path)
        accuracy[f"{label} ({predictor.backend})"] = float(
            np.mean(np.argmax(predictor.predict(raw), axis=1) == y_te))
        sizes[label] = path.stat().st_size
    int8 = accuracy[next(k for k in accuracy if k.startswith("TFLite int8"))]
    lesson.check("int8 TFLite test accuracy on the edge runtime", int8, above=0.9)
    lesson.check("accuracy lost by int8 vs MXNet", accuracy["fine-tuned"] - int8, below=0.02)
    for label, acc in accuracy.items():
        lesson.note(f"accuracy: {label}", f"{acc:.4f}")
    lesson.save_plot(results_plot(accuracy, sizes), "deploy.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
