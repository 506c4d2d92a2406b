"""Parallel and mixed-precision training throughput of fit() on one CPU host.

Three tables, each a set of ratios measured in one run, in interleaved rounds
(medians over rounds; samples/s count the global batch):

(a) devices: one context vs ``ctx=[mx.cpu(0), mx.cpu(1)]`` with KVStore
    ``local`` and ``device``, same global batch, LeNet-5, through ``fit``;
(b) distributed: ``dist_sync`` parameter servers on loopback through
    ``gluon-dl launch`` (1 worker + 1 server, 2 workers + 1 server), and two
    Horovod processes over Gloo when Horovod is installed, vs one local
    process, same global batch;
(c) bfloat16 AMP vs float32 (``fit(amp="bfloat16")``), each in its own
    process since MXNet's AMP is process-global; on CPUs without AVX-512
    the refusal is printed instead of a number.

Usage::

    python benchmarks/parallel_training.py                    # all three
    python benchmarks/parallel_training.py --only dist --rounds 3
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import _host
from train_vs_pytorch import _ratio, measure  # the interleaved-rounds worker machinery

LR, MOMENTUM = 0.05, 0.9


# ----------------------------------------------------------------- in-process parts

def _fixed_batches(model, batch, steps, num_workers=1, rank=0, seed=0):
    """``steps`` copies of one fixed batch (this worker's shard of it), as NDArrays."""
    import mxnet as mx
    import numpy as np

    from gluon_dl.models import get_model

    shape = get_model(model).config.input_shape
    rng = np.random.RandomState(seed)
    X = rng.rand(batch, *shape).astype("float32")[rank::num_workers]
    y = rng.randint(0, 10, batch)[rank::num_workers]
    return [(mx.nd.array(X), mx.nd.array(y))] * steps


def _timed_fit(net, trainer, batches, ctxs, amp=None, kvstore="device"):
    """Seconds ``fit`` spends in one epoch over ``batches`` (setup excluded)."""
    import mxnet as mx

    from gluon_dl.training import Callback, fit

    class Timer(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            mx.nd.waitall()
            self.seconds = time.perf_counter() - self.start

    timer = Timer()
    fit(net, batches, 1, trainer=trainer, ctx=ctxs, hybridize=False, progress=False,
        callbacks=[timer], amp=amp, kvstore=kvstore)
    return timer.seconds


def _build(model, ctxs, kvstore, amp=None):
    """A hybridized net and its trainer, built once per process (fit is called per run)."""
    import mxnet as mx
    from mxnet import gluon

    from gluon_dl.models import get_model
    from gluon_dl.training import amp as gl_amp

    mx.random.seed(0)
    net = get_model(model)
    net.initialize(mx.init.Xavier(), ctx=ctxs)
    if amp is not None:
        gl_amp.check_amp(amp, ctxs)
        gl_amp.enable_amp(amp, net)
    net.hybridize(static_alloc=True, static_shape=True)  # what fit(hybridize=True) does
    params = {"learning_rate": LR, "momentum": MOMENTUM}
    if amp is not None:
        params["multi_precision"] = True
    return net, gluon.Trainer(net.collect_params(), "sgd", params, kvstore=kvstore)


def fit_worker_main(spec):
    """Serve "run N" on stdin: seconds of one fit epoch of N steps (devices, AMP)."""
    import mxnet as mx

    ctxs = [mx.cpu(i) for i in range(spec["devices"])]
    net, trainer = _build(spec["model"], ctxs, spec["kvstore"], spec.get("amp"))
    batches = _fixed_batches(spec["model"], spec["batch"], 1)
    _timed_fit(net, trainer, batches, ctxs, spec.get("amp"))  # deferred init, graphs
    first = next(iter(net.collect_params().values()))
    before = first.data(ctxs[0]).copy()
    _timed_fit(net, trainer, batches, ctxs, spec.get("amp"))
    trains = bool((first.data(ctxs[0]) != before).sum().asscalar() > 0)
    print(json.dumps({"ready": True, "trains": trains, "nparams": 0}), flush=True)
    for line in sys.stdin:
        steps = int(line.split()[1])
        seconds = _timed_fit(net, trainer, batches * steps, ctxs, spec.get("amp"))
        print(json.dumps({"seconds": seconds}), flush=True)


def dist_worker_main(spec):
    """One process of a job: warm up, time ``steps`` fit steps, rank 0 prints the rate."""
    import mxnet as mx

    if "HOROVOD_RANK" in os.environ:  # started by horovodrun
        import horovod.mxnet as hvd

        hvd.init()
        kvstore, workers, rank = "horovod", hvd.size(), hvd.rank()
        net, _ = _build(spec["model"], [mx.cpu()], None)
        trainer = hvd.DistributedTrainer(net.collect_params(), "sgd",
                                         {"learning_rate": LR, "momentum": MOMENTUM})
    else:
        kv = mx.kv.create("dist_sync" if "DMLC_ROLE" in os.environ else "device")
        kvstore, workers, rank = kv, kv.num_workers, kv.rank
        net, trainer = _build(spec["model"], [mx.cpu()], kv)
    warm = _fixed_batches(spec["model"], spec["batch"], spec["warmup"], workers, rank)
    timed = _fixed_batches(spec["model"], spec["batch"], spec["steps"], workers, rank)
    _timed_fit(net, trainer, warm, [mx.cpu()], kvstore=kvstore)
    seconds = _timed_fit(net, trainer, timed, [mx.cpu()], kvstore=kvstore)
    if rank == 0:
        print("RESULT " + json.dumps({"rate": spec["batch"] * spec["steps"] / seconds}),
              flush=True)


# ----------------------------------------------------------------- (a) devices

def devices_table(args):
    base = {"model": "lenet5", "batch": args.batch}
    contenders = {
        "1 ctx": {**base, "devices": 1, "kvstore": "device"},
        "2 ctx, kvstore local": {**base, "devices": 2, "kvstore": "local"},
        "2 ctx, kvstore device": {**base, "devices": 2, "kvstore": "device"},
        "2 ctx, device, OMP 1/ctx": {**base, "devices": 2, "kvstore": "device",
                                     "env": {"OMP_NUM_THREADS": "1"}},
    }
    w, steps = measure(contenders, "1 ctx", args.rounds, args.steps, args.target_s,
                       args.threads, script=__file__)
    print(f"\n(a) LeNet-5, global batch {args.batch}, fit(ctx=...), {args.threads} OMP threads "
          f"unless noted, {steps} steps x {args.rounds} rounds")
    print(f"{'setting':28s} {'samples/s':>10s} {'vs 1 ctx':>9s}")
    for label, x in w.items():
        print(f"{label:28s} {statistics.median(x.rates):10.1f} {_ratio(x, w['1 ctx']):8.2f}x",
              flush=True)


# ----------------------------------------------------------------- (b) dist_sync

def _run_job(workers, args):
    """Samples/s of one job: a local process (0), a launched one (n), or Horovod ("hvd2")."""
    spec = json.dumps({"model": "lenet5", "batch": args.batch, "steps": args.dist_steps,
                       "warmup": 5})
    worker = [sys.executable, os.path.abspath(__file__), "--dist-worker", spec]
    # what launch gives its workers: passive OpenMP waits, one engine thread
    quiet = {"OMP_WAIT_POLICY": "PASSIVE", "MXNET_CPU_WORKER_NTHREADS": "1"}
    if workers == 0:
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), **quiet}
        cmd = worker
    elif workers == "hvd2":
        threads = max(1, args.threads // 2)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), **quiet}
        horovodrun = os.path.join(os.path.dirname(sys.executable), "horovodrun")
        cmd = [horovodrun, "--gloo", "-np", "2", "-H", "localhost:2", *worker]
    else:
        env = dict(os.environ)
        cmd = [sys.executable, "-m", "gluon_dl", "launch", "-n", str(workers), "-s", "1",
               "--", *worker]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    for line in out.stdout.splitlines():
        if "RESULT " in line:
            return json.loads(line.split("RESULT ", 1)[1])["rate"]
    raise RuntimeError(f"job {cmd[:8]} failed ({out.returncode}):\n{out.stdout[-2000:]}"
                       f"\n{out.stderr[-2000:]}")


def dist_table(args):
    jobs = {"1 process (kvstore device)": 0, "dist_sync 1 worker + 1 server": 1,
            "dist_sync 2 workers + 1 server": 2}
    if importlib.util.find_spec("horovod") is not None:
        jobs["horovod 2 processes (Gloo)"] = "hvd2"
    rates = {label: [] for label in jobs}
    for r in range(args.dist_rounds):
        for label, workers in (list(jobs.items()) if r % 2 == 0 else list(jobs.items())[::-1]):
            rates[label].append(_run_job(workers, args))
    base = rates["1 process (kvstore device)"]
    print(f"\n(b) LeNet-5, global batch {args.batch}, {args.dist_steps} timed steps per job "
          f"after 5 warm-up steps, {args.dist_rounds} rounds, loopback")
    print(f"{'job':32s} {'samples/s':>10s} {'vs 1 process':>13s}")
    for label, r in rates.items():
        ratio = statistics.median(a / b for a, b in zip(r, base))
        print(f"{label:32s} {statistics.median(r):10.1f} {ratio:12.2f}x", flush=True)


# ----------------------------------------------------------------- (c) bfloat16

def amp_table(args):
    from gluon_dl.errors import GluonDLError
    from gluon_dl.models import list_models
    from gluon_dl.training import amp as gl_amp

    model = args.amp_model if args.amp_model in list_models() else "lenet5"
    print(f"\n(c) bfloat16 AMP vs float32, {model}, batch {args.batch}")
    if not gl_amp.bf16_supported():
        import mxnet as mx
        try:
            gl_amp.check_amp("bfloat16", [mx.cpu()])
        except GluonDLError as exc:
            print(f"not measured: fit(amp='bfloat16') refuses on this CPU: {exc}")
            return
    base = {"model": model, "batch": args.batch, "devices": 1, "kvstore": "device"}
    contenders = {"float32": base, "bfloat16": {**base, "amp": "bfloat16"}}
    w, steps = measure(contenders, "float32", args.rounds, args.steps, args.target_s,
                       args.threads, script=__file__)
    print(f"{'precision':12s} {'samples/s':>10s} {'vs float32':>11s}")
    for label, x in w.items():
        print(f"{label:12s} {statistics.median(x.rates):10.1f} "
              f"{_ratio(x, w['float32']):10.2f}x", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--dist-worker", help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=("devices", "dist", "amp"), nargs="+",
                        default=["devices", "dist", "amp"])
    parser.add_argument("--batch", type=int, default=128, help="global batch size")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=0,
                        help="steps per measurement in (a), (c) (0: about --target-s seconds)")
    parser.add_argument("--target-s", type=float, default=1.0)
    parser.add_argument("--dist-rounds", type=int, default=3)
    parser.add_argument("--dist-steps", type=int, default=60, help="timed steps per job in (b)")
    parser.add_argument("--amp-model", default="cifar_resnet20_v1")
    args = parser.parse_args(argv)
    if args.worker:
        return fit_worker_main(json.loads(args.worker))
    if args.dist_worker:
        return dist_worker_main(json.loads(args.dist_worker))
    print(time.strftime('%Y-%m-%d %H:%M'))
    _host.print_header(args.threads, torch=False)
    tables = {"devices": devices_table, "dist": dist_table, "amp": amp_table}
    for name in args.only:
        tables[name](args)


if __name__ == "__main__":
    main()
