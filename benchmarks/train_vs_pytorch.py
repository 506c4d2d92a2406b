"""Training throughput (samples/s) of gluon-dl's fit loop vs PyTorch CPU eager, same networks.

Every contender runs in its own worker process (MXNet and PyTorch each bring
an OpenMP runtime, and MXNet reads its engine settings once, at import) with
the same thread count, network, batch, optimizer (SGD, momentum 0.9) and a
fixed in-memory batch.  The parent sends "run N steps" to one worker at a
time, in interleaved rounds whose order alternates, so host drift hits every
contender alike; ratios are taken inside each round and the tables show
medians over rounds.

* ``fit``: the per-step function of :func:`gluon_dl.training.fit` itself
  (network, loss and metrics in one hybridized ``static_alloc``/``static_shape``
  graph, narrow convolution stages padded to oneDNN's channel block; it
  reads the loss and the hit count back to Python after every step; when
  the benchmark's threads leave a core free, each step's after the next
  step's forward and backward are queued, as ``fit`` does).
* ``tuned``: the best MXNet setting found with ``--tune`` (see README).
* ``torch``: the standard PyTorch loop (``zero_grad``, forward, loss,
  ``backward``, ``step``, ``loss.item()``), eager, ``torch.compile`` off.

Usage::

    python benchmarks/train_vs_pytorch.py                    # both models, batch 64 and 128
    python benchmarks/train_vs_pytorch.py --tune --model cifar_resnet20_v1 --batch 64

Runs in the benchmark environment, which has PyTorch: ``make bench-env``, then
``.venv-bench/bin/python benchmarks/train_vs_pytorch.py``.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

import _host

LR, MOMENTUM = 0.01, 0.9
DEFAULT_MODELS = ("lenet5", "cifar_resnet20_v1")
FALLBACK_MODEL = "lenet5"

# One change at a time against the fit step, then the combination ("tuned").
# env is set before MXNet is imported in the worker.
VARIANTS = {
    "fit": {},
    "net and loss called separately": {"fuse": False},
    "no channel padding": {"pad": False},
    "global pooling as mean off": {"pool_mean": False},
    "global pooling as mean on": {"pool_mean": True},
    "no NaN/Inf checks (check_finite=False)": {"check_finite": False},
    # the next batch's forward and backward queued before the previous batch's metrics
    # are read back; fit's default when MXNet's threads leave a core free
    "overlap of batches off (overlap=False)": {"overlap": False},
    "overlap of batches on (overlap=True)": {"overlap": True},
    # fit's graph re-traces the network, so how the network itself is hybridized
    # only shows when network and loss are called separately
    "separate calls, hybridize()": {"hybridize": "default", "fuse": False},
    "separate calls, optimize_for(MKLDNN)": {"hybridize": "mkldnn", "fuse": False},
    "sync every 50 steps": {"step": "nosync"},
    # channel padding with a block forced, whatever the CPU (fit picks 16 with
    # AVX-512, 8 without)
    "channel padding to 8": {"pad": True, "pad_block": 8},
    "channel padding to 16": {"pad": True, "pad_block": 16},
    "BatchNorm+ReLU fused (bn_relu=True)": {"bn_relu": True},
    "train graph without static_alloc/shape": {"static": False},
    "OPTIMIZER_AGGREGATION_SIZE=1": {"env": {"MXNET_OPTIMIZER_AGGREGATION_SIZE": "1"}},
    "MXNET_MKLDNN_ENABLED=0 (no oneDNN)": {"env": {"MXNET_MKLDNN_ENABLED": "0",
                                                          "MXNET_STORAGE_FALLBACK_LOG_VERBOSE": "0"}},
    "DNNL_MAX_CPU_ISA=AVX2": {"env": {"DNNL_MAX_CPU_ISA": "AVX2"}},
    "DNNL_MAX_CPU_ISA=AVX512_CORE": {"env": {"DNNL_MAX_CPU_ISA": "AVX512_CORE"}},
    "DNNL_CPU_ISA_HINTS=PREFER_YMM": {"env": {"DNNL_CPU_ISA_HINTS": "PREFER_YMM"}},
    # changes the numerics (fp32 convolutions may compute in bfloat16): measured, never a default
    "DNNL_DEFAULT_FPMATH_MODE=BF16": {"env": {"DNNL_DEFAULT_FPMATH_MODE": "BF16"}},
    "OMP_WAIT_POLICY=ACTIVE": {"env": {"OMP_WAIT_POLICY": "ACTIVE"}},
    "OMP_WAIT_POLICY=PASSIVE": {"env": {"OMP_WAIT_POLICY": "PASSIVE"}},
    # libgomp's spin before a waiting thread sleeps (default 300,000; ACTIVE: forever)
    "GOMP_SPINCOUNT=3M": {"env": {"GOMP_SPINCOUNT": "3000000"}},
    "GOMP_SPINCOUNT=30M": {"env": {"GOMP_SPINCOUNT": "30000000"}},
    "MXNET_CPU_WORKER_NTHREADS=2": {"env": {"MXNET_CPU_WORKER_NTHREADS": "2"}},
    "NaiveEngine": {"env": {"MXNET_ENGINE_TYPE": "NaiveEngine"}},
    "OPTIMIZER_AGGREGATION_SIZE=60": {"env": {"MXNET_OPTIMIZER_AGGREGATION_SIZE": "60"}},
    "bulk 100 nodes": {"env": {"MXNET_EXEC_BULK_EXEC_MAX_NODE_TRAIN_FWD": "100",
                               "MXNET_EXEC_BULK_EXEC_MAX_NODE_TRAIN_BWD": "100"}},
    "no bulk execution": {"env": {"MXNET_EXEC_BULK_EXEC_TRAIN": "0"}},
}
TUNED = {"step": "nosync"}
# Settings whose OpenMP threads keep spinning while their worker waits for its turn: a
# resident worker with them takes the cores of whichever contender is being measured, so
# they are measured alone (see measure_alone).
SPINNING = {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"}


# ----------------------------------------------------------------- workers

def _torch_model(name):
    """The PyTorch twin of a gluon-dl model (same layers, same parameter count)."""
    from torch import nn

    if name == "lenet5":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    if name.startswith("cifar_resnet") and name.endswith("_v1"):
        depth = int(name[len("cifar_resnet"):-len("_v1")])
        return _torch_cifar_resnet_v1()((depth - 2) // 6)
    raise SystemExit(f"no PyTorch twin of {name!r}: add one to _torch_model")


def _torch_cifar_resnet_v1():
    """The class of gluon-dl's ``CIFARResNet`` v1 in PyTorch (torch imported lazily)."""
    from torch import nn

    class BasicBlockV1(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
            self.shortcut = None
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                              nn.BatchNorm2d(cout))

        def forward(self, x):
            res = x if self.shortcut is None else self.shortcut(x)
            return (self.body(x) + res).relu()

    class CifarResNetV1(nn.Sequential):
        def __init__(self, n, channels=(16, 16, 32, 64), num_classes=10):
            layers = [nn.Conv2d(3, channels[0], 3, 1, 1, bias=False),
                      nn.BatchNorm2d(channels[0]), nn.ReLU()]
            for i, cout in enumerate(channels[1:]):
                cin = channels[i]
                for b in range(n):
                    layers.append(BasicBlockV1(cin if b == 0 else cout, cout,
                                               2 if (i > 0 and b == 0) else 1))
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels[-1], num_classes)]
            super().__init__(*layers)

    return CifarResNetV1


def forward_flops(model, batch):
    """FLOPs of one forward pass, counted from the model's symbol.

    Convolutions and dense layers only (2 x multiply-adds: ``2 * output
    elements * weight elements per output``); activations, pooling and
    normalization are left out, as in the usual FLOP counts.  A training
    step is taken as 3x this (forward, backward-data, backward-weights).
    """
    import mxnet as mx

    from gluon_dl.models import get_model

    net = get_model(model)
    sym = net(mx.sym.var("data")).get_internals()
    arg_shapes, out_shapes, _ = sym.infer_shape_partial(data=(batch, *net.config.input_shape))
    args = dict(zip(sym.list_arguments(), arg_shapes))
    outs = dict(zip(sym.list_outputs(), out_shapes))
    flops = 0
    nodes = json.loads(sym.tojson())["nodes"]
    for node in nodes:
        if node["op"] in ("Convolution", "FullyConnected"):
            weight = args[nodes[node["inputs"][1][0]]["name"]]
            flops += 2 * math.prod(outs[f"{node['name']}_output"]) * math.prod(weight[1:])
    return flops


def _input_shape(model):
    from gluon_dl.models import get_model

    return get_model(model).config.input_shape


def _torch_worker(spec):
    import numpy as np
    import torch

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    net = _torch_model(spec["model"])
    rng = np.random.RandomState(0)
    X = torch.from_numpy(rng.rand(spec["batch"], *spec["shape"]).astype("float32"))
    y = torch.from_numpy(rng.randint(0, 10, spec["batch"]).astype("int64"))
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    net.train()
    first = next(net.parameters()).detach().clone()

    def run(steps):
        total = 0.0
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(X), y)
            loss.backward()
            opt.step()
            total += loss.item()
        return total

    run(1)
    trains = bool((next(net.parameters()) != first).any())
    nparams = sum(p.numel() for p in net.parameters())
    return run, nparams, trains, torch.get_num_threads()


def _mxnet_worker(spec):
    import mxnet as mx
    import numpy as np
    from mxnet import autograd, gluon

    from gluon_dl.models import get_model
    from gluon_dl.training.callbacks import CallbackList
    from gluon_dl.training.loop import FitState, _make_step

    from gluon_dl.training import _channel_pad, loop

    pad = spec.get("pad")  # fit(channel_pad=...): None, True or False
    if "pad_block" in spec:
        _channel_pad.block = lambda flags=None: spec["pad_block"]
    _levers(loop, spec)
    mx.random.seed(0)
    net = get_model(spec["model"])
    net.initialize(mx.init.Xavier())
    rng = np.random.RandomState(0)
    X = mx.nd.array(rng.rand(spec["batch"], *spec["shape"]).astype("float32"))
    y = mx.nd.array(rng.randint(0, 10, spec["batch"]))
    net(X)
    mode = spec.get("hybridize", "static")
    if mode == "static":  # what fit() does
        net.hybridize(static_alloc=True, static_shape=True)
    elif mode == "default":
        net.hybridize()
    elif mode == "mkldnn":
        net.optimize_for(X, backend="MKLDNN", static_alloc=True, static_shape=True)
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"learning_rate": LR, "momentum": MOMENTUM})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    if spec.get("step", "fit") == "fit":
        state = FitState(num_epochs=1)
        step = _make_step(net, loss_fn, trainer, [mx.cpu()], state, CallbackList([]),
                          fuse=spec.get("fuse", True), channel_pad=pad,
                          pool_as_mean=spec.get("pool_mean"), bn_relu=spec.get("bn_relu", False),
                          check_finite=spec.get("check_finite", True),
                          overlap=spec.get("overlap", loop._core_to_spare([mx.cpu()])))

        def run(steps):
            for _ in range(steps):
                step(0, X, y)
            step.flush()
            mx.nd.waitall()
            return state.loss_sum
    else:
        from gluon_dl.training.loop import _build_train_graph

        graph = _build_train_graph(net, loss_fn, (X,), (y,), pad, spec.get("pool_mean"),
                                   spec.get("bn_relu", False))

        def run(steps, sync_every=50):
            # fit's fused graph, but the metrics stay on the device and Python
            # reads them only every sync_every steps (a Keras-style
            # steps_per_execution).
            metrics = mx.nd.zeros((2,))
            total = 0.0
            for i in range(steps):
                with autograd.record():
                    losses, step_metrics = graph(X, y)
                losses.backward()
                trainer.step(X.shape[0])
                metrics += step_metrics
                if (i + 1) % sync_every == 0:
                    total += float(metrics[0].asscalar())
                    metrics[:] = 0
            total += float(metrics[0].asscalar())
            mx.nd.waitall()
            return total

    params = [p for p in net.collect_params().values() if p.grad_req != "null"]
    first = params[0].data().copy()
    run(1)
    trains = bool((params[0].data() != first).sum().asscalar() > 0)
    nparams = sum(int(np.prod(p.shape)) for p in params)
    return run, nparams, trains, int(os.environ.get("OMP_NUM_THREADS", "0"))


def _levers(loop, spec):
    """Switch the MXNet worker's training-graph levers that fit has no argument for."""
    if spec.get("static", True) is False:
        build = loop._build_train_graph

        def unstatic(*args, **kwargs):
            graph = build(*args, **kwargs)
            if graph is not None:  # not called yet: hybridizing again still counts
                graph.hybridize(static_alloc=False, static_shape=False)
            return graph
        loop._build_train_graph = unstatic


def worker_main(spec):
    """Serve "run N" requests on stdin with the seconds N steps took."""
    run, nparams, trains, threads = (_torch_worker if spec["framework"] == "torch"
                                     else _mxnet_worker)(spec)
    print(json.dumps({"ready": True, "nparams": nparams, "trains": trains,
                      "threads": threads}), flush=True)
    for line in sys.stdin:
        steps = int(line.split()[1])
        start = time.perf_counter()
        run(steps)
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)


# ----------------------------------------------------------------- parent

class Worker:
    """A contender in its own process."""

    def __init__(self, label, spec, threads, script=None):
        self.label, self.spec = label, spec
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), **spec.get("env", {})}
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(script or __file__), "--worker", json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.info = None
        self.rates, self.ratios = [], []

    def ready(self):
        """Wait until the worker has built its network (workers start in parallel)."""
        self.info = self._read()
        return self

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"worker {self.label} exited with code {self.proc.wait()}")

    def rate(self, steps):
        """Samples per second over ``steps`` steps; also kept in ``rates``."""
        rate = self.spec["batch"] * steps / self.seconds(steps)
        self.rates.append(rate)
        return rate

    def seconds(self, steps):
        self.proc.stdin.write(f"run {steps}\n")
        self.proc.stdin.flush()
        return self._read()["seconds"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _spec(framework, model, batch, threads, shape, variant=None):
    spec = {"framework": framework, "model": model, "batch": batch, "threads": threads,
            "shape": list(shape)}
    spec.update(variant or {})
    return spec


def measure(contenders, base, rounds, steps, target_s, threads, min_steps=5, script=None):
    """Interleaved rounds over ``{label: spec}``, each contender bracketed by ``base``.

    A round runs ``base, c1, base, c2, ..., base`` (reversed every other
    round); each contender's rate is divided by the mean of the two ``base``
    rates around it, so drift between fast and slow host states, which can
    be large within one round, cancels.  Returns the workers (``rates`` and
    ``ratios`` to ``base`` per round) and the steps per measurement.
    """
    workers = {label: Worker(label, spec, threads, script) for label, spec in contenders.items()}
    try:
        for w in workers.values():
            w.ready()
        live = [w for w in workers.values() if w.info["trains"]]
        if not steps:  # calibrate on the slowest contender
            for w in live:
                w.seconds(2)  # first runs after start-up are slow
            per_step = max(w.seconds(2) / 2 for w in live)
            steps = max(min_steps, math.ceil(target_s / per_step))
        for w in live:
            w.seconds(steps)  # warm-up at the measured length
        ref = workers[base]
        others = [w for w in live if w is not ref]
        for r in range(rounds):
            before = ref.rate(steps)
            for w in (others if r % 2 == 0 else others[::-1]):
                rate, after = w.rate(steps), ref.rate(steps)
                w.ratios.append(rate / ((before + after) / 2))
                before = after
    finally:
        for w in workers.values():
            w.close()
    return workers, steps


def _spins(spec):
    return bool(SPINNING & set(spec.get("env", {})))


def measure_alone(contenders, base, rounds, steps, threads, script=None):
    """Each contender in a process of its own, started and closed for each measurement.

    For settings that keep OpenMP threads spinning between parallel regions
    (``SPINNING``): in :func:`measure` their idle worker would slow every
    other contender.  Rounds alternate the order; ratios are per round
    against ``base`` measured the same way.
    """
    rates = {label: [] for label in contenders}
    labels = list(contenders)
    for r in range(rounds):
        for label in (labels if r % 2 == 0 else labels[::-1]):
            w = Worker(label, contenders[label], threads, script).ready()
            try:
                w.seconds(max(2, steps // 5))  # start-up
                rates[label].append(max(w.rate(steps) for _ in range(2)))
            finally:
                w.close()
    ratios = {label: [a / b for a, b in zip(rates[label], rates[base])] for label in labels}
    return rates, ratios


def _ratio(a, b):
    """Median over rounds of ``a/b``, both measured against the same base."""
    rounds = max(len(a.ratios), len(b.ratios))
    if not rounds:  # a and b are both the base
        return 1.0
    ra, rb = a.ratios or [1.0] * rounds, b.ratios or [1.0] * rounds  # the base: 1
    return statistics.median(x / y for x, y in zip(ra, rb))


def _check_twins(workers, model):
    counts = {w.label: w.info["nparams"] for w in workers}
    if len(set(counts.values())) != 1:
        raise SystemExit(f"{model}: the contenders' parameter counts differ: {counts}")


def compare(models, batches, args):
    print(f"threads: {args.threads} (OMP_NUM_THREADS = torch.set_num_threads); "
          f"rounds: {args.rounds}; samples/s are medians over rounds")
    print(f"{'model':20s} {'batch':>5s} {'torch/s':>9s} {'fit/s':>9s} {'tuned/s':>9s} "
          f"{'fit/torch':>10s} {'tuned/torch':>12s} {'tuned/fit':>10s} {'steps':>6s} "
          f"{'fit GFLOP/s':>12s} {'% peak':>7s}")
    for model in models:
        shape = _input_shape(model)
        for batch in batches:
            contenders = {
                "torch": _spec("torch", model, batch, args.threads, shape),
                "fit": _spec("mxnet", model, batch, args.threads, shape),
                "tuned": _spec("mxnet", model, batch, args.threads, shape, TUNED),
            }
            w, steps = measure(contenders, "torch", args.rounds, args.steps, args.target_s,
                               args.threads)
            _check_twins(w.values(), model)
            med = {k: statistics.median(x.rates) for k, x in w.items()}
            print(f"{model:20s} {batch:5d} {med['torch']:9.1f} {med['fit']:9.1f} "
                  f"{med['tuned']:9.1f} {_ratio(w['fit'], w['torch']):9.2f}x "
                  f"{_ratio(w['tuned'], w['torch']):11.2f}x "
                  f"{_ratio(w['tuned'], w['fit']):9.2f}x {steps:6d} "
                  f"{_achieved(model, batch, med['fit'], args.peak)}", flush=True)
    print("GFLOP/s: 3 x the forward pass's convolution and dense-layer FLOPs (counted from "
          "the symbol) per sample x fit's samples/s; % of the host's sgemm peak above")


def _achieved(model, batch, samples_per_s, peak):
    """``"GFLOP/s  % of peak"`` of a training step at ``samples_per_s``."""
    gflops = 3 * forward_flops(model, batch) / batch * samples_per_s / 1e9
    return f"{gflops:12.2f} {100 * gflops / peak:6.1f}%" if peak else f"{gflops:12.2f} {'-':>7s}"


def tune(model, batch, args):
    shape = _input_shape(model)
    contenders = {"torch": _spec("torch", model, batch, args.threads, shape)}
    for label, variant in VARIANTS.items():
        if args.variants and label not in args.variants and label != "fit":
            continue
        contenders[label] = _spec("mxnet", model, batch, args.threads, shape, variant)
    contenders["tuned (combined)"] = _spec("mxnet", model, batch, args.threads, shape, TUNED)
    alone = {label: spec for label, spec in contenders.items() if _spins(spec)}
    w, steps = measure({k: v for k, v in contenders.items() if k not in alone}, "fit",
                       args.rounds, args.steps, args.target_s, args.threads)
    print(f"\n{model}, batch {batch}, {args.threads} threads, {steps} steps x "
          f"{args.rounds} rounds")
    print(f"{'MXNet setting':40s} {'samples/s':>10s} {'vs fit':>8s} {'vs torch':>9s}")
    for label, x in w.items():
        if not x.info["trains"]:
            print(f"{label:40s} {'-':>10s}  training broken: a step leaves the weights "
                  f"unchanged (zero gradients)")
            continue
        vs_fit = f"{_ratio(x, w['fit']):7.2f}x" if label != "fit" else "1.00x"
        vs_torch = f"{_ratio(x, w['torch']):8.2f}x" if label != "torch" else ""
        print(f"{label:40s} {statistics.median(x.rates):10.1f} {vs_fit:>8s} {vs_torch:>9s}",
              flush=True)
    if alone:
        rates, ratios = measure_alone({"fit": contenders["fit"], "torch": contenders["torch"],
                                       **alone}, "fit", args.rounds, steps, args.threads)
        print(f"measured alone, each in a fresh process ({steps} steps x {args.rounds} rounds):")
        for label in ["fit", "torch", *alone]:
            vs_fit = statistics.median(ratios[label])
            vs_torch = statistics.median([a / b for a, b in zip(rates[label], rates["torch"])])
            print(f"{label:40s} {statistics.median(rates[label]):10.1f} {vs_fit:7.2f}x "
                  f"{vs_torch:8.2f}x", flush=True)
    print(f"fit: {_achieved(model, batch, statistics.median(w['fit'].rates), args.peak).split()[0]}"
          f" GFLOP/s (3 x forward FLOPs counted from the symbol)")


def _models(names):
    from gluon_dl.models import list_models

    known = set(list_models())
    out = []
    for name in names:
        if name not in known:
            print(f"{name} is not registered (yet); benchmarking {FALLBACK_MODEL} instead")
            name = FALLBACK_MODEL
        if name not in out:
            out.append(name)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--model", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--batch", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=0,
                        help="steps per measurement (0: enough for --target-s seconds)")
    parser.add_argument("--target-s", type=float, default=1.0,
                        help="seconds per measurement when --steps is 0")
    parser.add_argument("--tune", action="store_true",
                        help="one MXNet setting at a time against fit and torch")
    parser.add_argument("--variants", nargs="*", help="with --tune: only these settings")
    parser.add_argument("--peak-n", type=int, default=2048,
                        help="matrix size of the header's sgemm peak (0: skip)")
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(json.loads(args.worker))
    unknown = set(args.variants or ()) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown --variants {sorted(unknown)}; known: {sorted(VARIANTS)}")
    args.peak = _host.print_header(args.threads, args.peak_n)["peak_gflops"]
    models = _models(args.model)
    if args.tune:
        for model in models:
            for batch in args.batch:
                tune(model, batch, args)
    else:
        compare(models, args.batch, args)


if __name__ == "__main__":
    main()
