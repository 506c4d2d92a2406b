"""Channel pruning of a CIFAR ResNet: inference speed, parameters, FLOPs and accuracy.

``cifar_resnet20_v1`` is trained, then :func:`deploy.prune.prune_channels_gradually`
removes ``--sparsity`` of the channels of every layer in ``--steps`` rounds
(L1-norm ranking; the residual streams pruned jointly), fine-tuning after
every round on a cosine schedule.  The table compares the original and the
pruned network:

* parameters and FLOPs (multiply-accumulates of convolutions and dense
  layers, one image), from the pruning reports;
* float32 inference time at batch 1 and 64 (MXNet, oneDNN), of the
  hybridized networks as trained and of the inference graphs that MXNet's
  ``optimize_for(backend="MKLDNN")`` fuses (convolution + BatchNorm + ReLU +
  residual add in one oneDNN primitive: 73 operators become 24), measured in
  interleaved rounds whose order alternates, so that load on a shared host
  hits every network alike; ratios are taken inside each round and the
  median over rounds is shown;
* accuracy on the whole test split of the original, of the pruned network
  before fine-tuning (one-shot, all rounds at once) and after, and of a
  control: the unpruned network fine-tuned round for round like the pruned
  one (fine-tuning also trains longer; against the control the drop counts
  only what the removed channels cost; ``--no-control`` skips it).

Data: a registered image set (``--dataset``), read offline by
:func:`gluon_dl.data.load_dataset`; gray images are repeated into three
channels and resized to 32x32.  Fashion-MNIST is the default (its files are
in a system folder on the benchmark hosts); ``--dataset cifar10 --data-root
DIR`` runs CIFAR-10.  ``--train-size`` images of the training split are used
(a seeded random subset); the test split is used whole.

``--profile`` skips the training (speed does not depend on the weights'
values) and shows where one batch-1 call's time goes, operator by operator
(``mx.profiler``, with bulk execution off so that every operator is timed),
next to the wall time of the call.

Usage::

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/structured_pruning.py --threads 1 --quick
    python benchmarks/structured_pruning.py --dataset cifar10 --data-root ~/data
    python benchmarks/structured_pruning.py --profile --threads 1
"""
import argparse
import json
import os
import statistics
import time

import _host

MODEL = "cifar_resnet20_v1"
# --quick: the whole run in about 15 minutes on one busy core.
QUICK = {"train_size": 15000, "epochs": 3, "finetune_epochs": 6, "rounds": 7, "seconds": 0.5}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion-mnist",
                   help="a registered image data set (gluon_dl.data.list_datasets())")
    p.add_argument("--data-root", help="folder holding the data set's folder, if not found "
                                       "by default")
    quick = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in QUICK.items())
    p.add_argument("--quick", action="store_true", help=f"shorter run: {quick}")
    p.add_argument("--train-size", type=int, default=30000,
                   help="training images used (a random subset; the test split stays whole)")
    p.add_argument("--epochs", type=int, default=6, help="training epochs of the original")
    p.add_argument("--finetune-epochs", type=int, default=6,
                   help="fine-tuning epochs in all, shared among the pruning rounds")
    p.add_argument("--sparsity", type=float, default=0.5)
    p.add_argument("--steps", type=int, default=2, help="pruning rounds")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate of the training")
    p.add_argument("--finetune-lr", type=float, default=1e-3)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--seconds", type=float, default=1.0, help="per network and round")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--peak-n", type=int, default=1024, help="sgemm size of the host's fp32 peak")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-control", dest="control", action="store_false",
                   help="skip the control run: the unpruned network fine-tuned as long as the "
                        "pruned one (the drop is then counted from the original as trained only)")
    p.add_argument("--profile", action="store_true",
                   help="only profile batch 1 operator by operator (untrained networks)")
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) == p.get_default(key):
                setattr(args, key, value)
    return args


def load_images(args, config):
    """``(X_train, X_test, y_train, y_test, to_input, description)``; images stay raw."""
    import numpy as np

    from gluon_dl import data as gdata

    X_tr, y_tr = gdata.load_dataset(args.dataset, "train", root=args.data_root)
    X_te, y_te = gdata.load_dataset(args.dataset, "test", root=args.data_root)
    pick = np.random.RandomState(args.seed).permutation(len(X_tr))[:args.train_size]
    X_tr, y_tr = X_tr[pick], y_tr[pick]
    channels = config.input_shape[0]
    gray = X_tr.ndim == 3 or X_tr.shape[-1] == 1

    def to_input(images):
        if gray:
            images = gdata.to_channels(images, channels=channels)
        return gdata.to_model_input(images, config=config, resize=True)

    note = ", gray repeated into 3 channels" if gray else ""
    return (X_tr, X_te, y_tr, y_te, to_input,
            f"{args.dataset}: {len(X_tr):,} train (random subset of the training split) / "
            f"{len(X_te):,} test (the whole test split), resized to 32x32{note}")


def train(net, data, epochs, lr, seed):
    """Adam with weight decay on a cosine schedule (a warm-up epoch when training from scratch)."""
    import mxnet as mx

    from gluon_dl.data import ArrayLoader
    from gluon_dl.training import fit

    X, y, to_input = data
    loader = ArrayLoader(X, y, 64, shuffle=True, seed=seed, transform=to_input)
    steps = max(1, epochs * len(loader))
    sched = mx.lr_scheduler.CosineScheduler(max_update=steps, base_lr=lr, final_lr=lr * 1e-2,
                                            warmup_steps=min(len(loader), steps // 4))
    fit(net, loader, epochs, optimizer="adam",
        optimizer_params={"learning_rate": lr, "lr_scheduler": sched, "wd": 1e-4},
        progress=False)


def accuracy(net, X, y, to_input):
    import mxnet as mx
    import numpy as np

    scores = np.concatenate([net(mx.nd.array(to_input(X[i:i + 500]))).asnumpy()
                             for i in range(0, len(X), 500)])
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


def interleaved_speed(nets, x, args):
    """Median ms per call of each net, and per pair the median per-round time ratio."""
    times = {name: [] for name in nets}
    for r in range(args.rounds):
        order = list(nets) if r % 2 == 0 else list(nets)[::-1]
        for name in order:
            times[name].append(timed_calls(nets[name], x, args.seconds))
    ratios = {kind: statistics.median(o / p for o, p in zip(times[f"original{kind}"],
                                                             times[f"pruned{kind}"]))
              for kind in ("", " fused")}
    return {n: 1e3 * statistics.median(t) for n, t in times.items()}, ratios


def inference_copies(net, pruned, batch):
    """The two networks hybridized as trained, and MXNet's fused inference graphs of both."""
    import mxnet as mx
    import numpy as np

    x = mx.nd.array(np.random.RandomState(0).rand(batch, 3, 32, 32).astype("float32"))
    nets = {}
    for name, block in (("original", net), ("pruned", pruned)):
        plain, fused = _copy(block), _copy(block)
        plain.hybridize(static_alloc=True, static_shape=True)
        fused.optimize_for(x, backend="MKLDNN", static_alloc=True, static_shape=True)
        nets[name], nets[f"{name} fused"] = plain, fused
    return nets, x


def _copy(block):
    """``block`` copied into a SymbolBlock, so that hybridizing the copy leaves it alone."""
    import mxnet as mx

    data = mx.sym.var("data")
    copy = mx.gluon.SymbolBlock(block(data), data)
    params = {p.name: p.data() for p in block.collect_params().values()}
    for name, param in copy.collect_params().items():
        param._load_init(params[name], mx.cpu())
    return copy


def round_epochs(args, step):
    """Fine-tuning epochs after pruning round ``step`` (the last round takes the remainder)."""
    per_round = max(1, args.finetune_epochs // args.steps)
    return max(1, per_round if step < args.steps - 1
               else args.finetune_epochs - per_round * step)


def prune(net, data, test, args):
    """Gradual pruning with fine-tuning; also the one-shot network's accuracy before fine-tuning."""
    from deploy.prune import prune_channels, prune_channels_gradually

    one_shot, _ = prune_channels(net, args.sparsity, config=net.config)
    acc0 = accuracy(one_shot, *test)
    accs = []

    def fine_tune(pruned, step):
        epochs = round_epochs(args, step)
        train(pruned, data, epochs, args.finetune_lr, args.seed + step)
        accs.append(accuracy(pruned, *test))
        print(f"round {step + 1}/{args.steps}: {epochs} epochs, {accs[-1]:.2%}", flush=True)

    pruned, reports = prune_channels_gradually(net, args.sparsity, config=net.config,
                                               steps=args.steps, fine_tune=fine_tune)
    return pruned, reports, acc0, accs[-1]


def control(net, data, test, args):
    """Accuracy of the unpruned network given the pruned one's fine-tuning, round for round.

    Fine-tuning also continues the training; against this control the drop
    counts only what the removed channels cost.
    """
    from gluon_dl.models import get_model

    twin = get_model(MODEL)
    twin.initialize()
    twin(net_input(net))
    params = {name[len(net.prefix):]: p.data() for name, p in net.collect_params().items()}
    for name, param in twin.collect_params().items():
        param.set_data(params[name[len(twin.prefix):]])
    acc = None
    for step in range(args.steps):
        epochs = round_epochs(args, step)
        train(twin, data, epochs, args.finetune_lr, args.seed + step)
        acc = accuracy(twin, *test)
        print(f"control round {step + 1}/{args.steps} (unpruned): {epochs} epochs, {acc:.2%}",
              flush=True)
    return acc


def net_input(net):
    import mxnet as mx

    return mx.nd.zeros((1,) + tuple(net.config.input_shape))


def profile(args, calls=300, repeats=3):
    """Per network: wall ms per batch-1 call, and the operators' share of it.

    Each network is profiled ``repeats`` times, interleaved, and its quietest
    repeat (least wall time) is shown: on a shared host the others include
    time spent waiting for a core.
    """
    import mxnet as mx

    from deploy.prune import prune_channels
    from gluon_dl.models import get_model

    mx.random.seed(args.seed)
    net = get_model(MODEL)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1,) + tuple(net.config.input_shape)))
    pruned, _ = prune_channels(net, args.sparsity, config=net.config)
    nets, x = inference_copies(net, pruned, 1)
    best = {}
    for _ in range(repeats):
        for name, block in nets.items():
            wall, ops = _profiled_calls(block, x, calls)
            if name not in best or wall < best[name][0]:
                best[name] = (wall, ops)
    for name, (wall, ops) in best.items():
        total = sum(ms for ms, _ in ops.values())
        print(f"\n{name}: {wall:.3f} ms per call (profiler on), operators {total:.3f} ms "
              f"({100 * total / wall:.0f}%), {sum(n for _, n in ops.values())} operator calls")
        for op, (ms, n) in sorted(ops.items(), key=lambda kv: -kv[1][0])[:6]:
            print(f"  {op:28s} {n:3d} x {1e3 * ms / n:7.1f} us = {ms:6.3f} ms")


def _profiled_calls(block, x, calls):
    import mxnet as mx

    for _ in range(50):
        block(x).wait_to_read()
    mx.profiler.set_config(profile_symbolic=True, profile_imperative=True,
                           aggregate_stats=True, filename=os.devnull)
    mx.profiler.set_state("run")
    start = time.perf_counter()
    for _ in range(calls):
        block(x).wait_to_read()
    wall = 1e3 * (time.perf_counter() - start) / calls
    mx.profiler.set_state("stop")
    return wall, _operator_ms(json.loads(mx.profiler.dumps(reset=True, format="json")), calls)


def _operator_ms(stats, calls):
    """``{operator: (ms per call, invocations per call)}`` from the profiler's aggregate."""
    ops = {}
    for name, row in stats.get("Time", {}).get("operator", {}).items():
        if name not in ("WaitForVar", "DeleteVariable"):
            ops[name] = (row["Total"] / calls, row["Count"] // calls)
    return ops


def main(argv=None):
    args = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if args.profile:
        os.environ["MXNET_EXEC_BULK_EXEC_INFERENCE"] = "0"
    _host.print_header(args.threads, args.peak_n, torch=False)
    if args.profile:
        return profile(args)
    import mxnet as mx
    import numpy as np

    from gluon_dl.models import get_model

    start = time.perf_counter()
    mx.random.seed(args.seed)
    np.random.seed(args.seed)
    net = get_model(MODEL)
    X_tr, X_te, y_tr, y_te, to_input, source = load_images(args, net.config)
    print(f"data: {source}", flush=True)
    data, test = (X_tr, y_tr, to_input), (X_te, y_te, to_input)
    train(net, data, args.epochs, args.lr, args.seed)
    acc = accuracy(net, *test)
    trained = time.perf_counter()
    print(f"original: {acc:.2%} after {args.epochs} epochs ({trained - start:.0f} s)", flush=True)
    acc_control = control(net, data, test, args) if args.control else None
    pruned, reports, acc0, acc1 = prune(net, data, test, args)
    tuned = time.perf_counter()
    print(f"pruned and fine-tuned{' (and the control run)' if args.control else ''} in "
          f"{tuned - trained:.0f} s", flush=True)

    speed = {}
    for b in args.batches:
        nets, x = inference_copies(net, pruned, b)
        speed[b] = interleaved_speed(nets, x, args)
    print_table(args, reports, speed, (acc, acc0, acc1, acc_control))
    print(f"\n{time.perf_counter() - start:.0f} s in all (training {trained - start:.0f} s, "
          f"pruning and fine-tuning {tuned - trained:.0f} s)")


def print_table(args, reports, speed, accuracies):
    acc, acc0, acc1, acc_control = accuracies
    p0, p1 = reports[0].params[0], reports[-1].params[1]
    f0, f1 = reports[0].flops[0], reports[-1].flops[1]
    print(f"\n{MODEL} on {args.dataset}, {args.sparsity:.0%} of the channels removed in "
          f"{args.steps} round(s), float32, {args.threads} thread(s), {args.rounds} interleaved "
          f"rounds")
    cols = [(b, kind) for b in args.batches for kind in ("", " fused")]
    print(f"{'network':28s} {'params':>9s} {'MFLOPs':>8s} "
          + " ".join(f"{f'b{b}{kind[:2]} ms':>9s}" for b, kind in cols) + f" {'accuracy':>9s}")
    for name, p, f, a in (("original", p0, f0, acc), ("pruned", p1, f1, acc1)):
        print(f"{name + (', fine-tuned' if name == 'pruned' else ''):28s} {p:9,d} {f / 1e6:8.2f} "
              + " ".join(f"{speed[b][0][name + kind]:9.3f}" for b, kind in cols) + f" {a:9.2%}")
    print(f"{'ratio original / pruned':28s} {p0 / p1:8.2f}x {f0 / f1:7.2f}x "
          + " ".join(f"{speed[b][1][kind]:8.2f}x" for b, kind in cols)
          + f" {100 * (acc1 - acc):+8.2f}p")
    print(f"the one-shot cut (all rounds at once) before any fine-tuning: {acc0:.2%}")
    if acc_control is not None:
        print(f"control: the unpruned network fine-tuned as long: {acc_control:.2%}; the pruned "
              f"one against it: {100 * (acc1 - acc_control):+.2f} points")
    print("columns b<N>: ms per call at batch N of the hybridized network; b<N> f: of MXNet's "
          "fused inference graph (optimize_for MKLDNN)\nspeed ratio: median over rounds of "
          "(original time / pruned time), measured in the same round; accuracy column of the "
          "ratio line: points gained (+) or lost (-) after fine-tuning")


if __name__ == "__main__":
    main()
