"""Deploy your own Gluon block: prune, export to ONNX and TFLite int8, run on the edge.

Any HybridBlock works; describe its input once with a ModelConfig and every
exporter and the edge runtime read it from there.  Offline, about 30 s on 2 cores:

    python examples/deploy_custom_block.py --out /tmp/custom
"""
import argparse
import functools
from pathlib import Path

import mxnet as mx
import numpy as np
from mxnet.gluon import nn

from deploy.export import onnx as onnx_export
from deploy.export import tflite as tflite_export
from deploy.prune import prune_to_sparsity
from deploy.runtime import load
from gluon_dl.data import ArrayLoader, load_mnist, to_model_input, train_test_split
from gluon_dl.models import ModelConfig
from gluon_dl.training import evaluate_accuracy, fit


class TinyConvNet(nn.HybridBlock):
    """A user's model: nothing gluon-dl registered."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.body = nn.HybridSequential()
            self.body.add(nn.Conv2D(16, 3, padding=1, activation="relu"), nn.MaxPool2D(2),
                          nn.Conv2D(32, 3, padding=1, activation="relu"), nn.MaxPool2D(2),
                          nn.Flatten(), nn.Dense(10))

    def hybrid_forward(self, F, x):
        return self.body(x)


CONFIG = ModelConfig(name="tinyconv", input_shape=(1, 28, 28), layout="NCHW", mean=(0.1307,),
                     std=(0.3081,), num_classes=10, labels=tuple("0123456789"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("custom_block_artifacts"))
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
    mx.random.seed(0)
    X, y = load_mnist()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, 1000)
    transform = functools.partial(to_model_input, config=CONFIG)
    net = TinyConvNet()
    fit(net, ArrayLoader(X_tr, y_tr, 64, shuffle=True, transform=transform), args.epochs,
        lr=2e-3)
    prune_to_sparsity(net, 0.5)  # one shot, no fine-tuning: a sketch, not the demo's recipe
    test_iter = ArrayLoader(X_te, y_te, 250, transform=transform)
    print(f"MXNet accuracy after pruning half the weights: {evaluate_accuracy(net, test_iter):.2%}")

    onnx_path = onnx_export.export(net, args.out / "tinyconv.onnx", config=CONFIG)
    tflite = tflite_export.export_many(onnx_path, args.out, config=CONFIG, stem="tinyconv",
                                       precisions=("int8",), calib_data=transform(X_tr[:200]),
                                       reference=net)
    raw = X_te.astype(np.float32)[:, None] / 255.0  # the edge side passes raw [0, 1] images
    for path in (onnx_path, tflite["int8"]):
        predictor = load(path)
        acc = np.mean(np.argmax(predictor.predict(raw), axis=1) == y_te)
        print(f"{path.name} in {predictor.backend}: accuracy {acc:.2%}")


if __name__ == "__main__":
    main()
