"""Distributed training: data-parallel LeNet-5 on several devices, processes or machines.

Data parallelism splits every batch across devices and sums their gradients through a
KVStore, so the result equals one device training on the whole batch.  Run alone, the
script trains get_model("lenet5") on two CPU contexts (ctx=[mx.cpu(0), mx.cpu(1)]) in one
process and checks that the weights match a one-context run.  Data: mnist-5k;
--data-root DIR reads the official MNIST.  Quick run:

    python examples/32_distributed.py --quick --out /tmp/dist

Locally, two workers and one parameter server on this machine (loopback only):

    gluon-dl launch -n 2 -s 1 -- python examples/32_distributed.py --out /tmp/dist

On a cluster: list the hosts (one per line) in a hostfile, make this repository
and its virtual environment available at the same path on every host, allow
password-less ssh from the launching host, and run

    gluon-dl launch -n 4 -s 2 --hostfile hosts.txt --launcher ssh -- \\
        .venv/bin/python examples/32_distributed.py --out /shared/run1

With Horovod (the 'horovod' extra), the same script runs one process per
device, here two on this machine over Gloo:

    horovodrun --gloo -np 2 -H localhost:2 python examples/32_distributed.py --out /tmp/hvd

Each worker walks the same global batches and trains on its shard of each; the servers
(or Horovod's allreduce) combine the gradients, so the result equals one process
training with the global batch.  Worker 0 writes lenet5-params.npz and the plots to
--out, the other workers their result.json to --out/worker-N.

Lesson: 32. Distributed training
"""
import functools
import os

import mxnet as mx
import numpy as np

from gluon_dl import fit, get_model, plot_history
from gluon_dl.data import ArrayLoader, to_model_input
from gluon_dl.lesson import Lesson, run
from gluon_dl.training import evaluate_accuracy
from gluon_dl.utils.io import atomic_output_path


def arguments(parser):
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs (default: 5; 2 with --quick, 1 with --smoke)")
    parser.add_argument("--batch-size", type=int, default=64, help="global batch size")
    # 0.05 with momentum 0.9 is chaotic for LeNet-5 here: runs whose kernels differ only
    # in summation order drift apart by 0.4 in the weights within 25 steps.
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--kvstore", default="dist_sync",
                        choices=["dist_sync", "dist_device_sync", "dist_async"],
                        help="the parameter-server mode under gluon-dl launch "
                             "(dist_async: servers apply each worker's update as it arrives)")
    parser.add_argument("--local-updates", action="store_true",
                        help="update on each worker (update_on_kvstore=False), as "
                             "checkpointing the optimizer state needs")


def started_as(dist_type):
    """``(kvstore, number of workers, this worker's rank)`` for how the script was started."""
    if "HOROVOD_RANK" in os.environ or "OMPI_COMM_WORLD_RANK" in os.environ:  # horovodrun
        import horovod.mxnet as hvd

        hvd.init()
        return "horovod", hvd.size(), hvd.rank()
    if "DMLC_ROLE" in os.environ:  # gluon-dl launch
        kv = mx.kv.create(dist_type)
        return kv, kv.num_workers, kv.rank
    return "device", 1, 0  # one process: the KVStore reduces across its contexts


def train(lesson, data, ctx, kvstore, num_workers=1, rank=0):
    """LeNet-5 trained on this worker's shard of every global batch; returns net, history."""
    args, (X_tr, y_tr) = lesson.args, data
    mx.random.seed(args.seed)  # every worker, and every run compared, starts alike
    net = get_model("lenet5")
    prep = functools.partial(to_model_input, config=net.config)
    shards = ArrayLoader(X_tr, y_tr, args.batch_size, shuffle=True, seed=args.seed,
                         transform=prep, num_shards=num_workers, shard=rank,
                         last_batch="discard")
    history = fit(net, shards, args.epochs, optimizer="sgd", ctx=ctx,
                  optimizer_params={"learning_rate": args.lr, "momentum": 0.9},
                  kvstore=kvstore, update_on_kvstore=False if args.local_updates else None,
                  seed=args.seed, progress=False)
    return net, history


def save_params(net, path):
    with atomic_output_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()})


def main():
    lesson = Lesson(__doc__, arguments=arguments)
    if lesson.args.epochs is None:
        lesson.args.epochs = lesson.pick(full=5, quick=2, smoke=1)
    kvstore, num_workers, rank = started_as(lesson.args.kvstore)
    if rank > 0:
        lesson.out = lesson.out / f"worker-{rank}"
        lesson.out.mkdir(parents=True, exist_ok=True)
    lesson.note("model", "lenet5")
    X_tr, y_tr, X_te, y_te = lesson.image_data(official="mnist", default="mnist-5k")
    n = lesson.pick(full=len(X_tr), quick=len(X_tr), smoke=512)
    ctx = [mx.cpu(0), mx.cpu(1)] if num_workers == 1 else None
    lesson.note("devices", f"{num_workers} worker(s), contexts {ctx or 'one per worker'}, "
                           f"KVStore {kvstore if isinstance(kvstore, str) else kvstore.type}")
    net, history = train(lesson, (X_tr[:n], y_tr[:n]), ctx, kvstore, num_workers, rank)
    prep = functools.partial(to_model_input, config=net.config)
    acc = evaluate_accuracy(net, ArrayLoader(X_te, y_te, 250, transform=prep))
    print(f"worker {rank}/{num_workers}: held-out accuracy {acc:.2%}", flush=True)
    lesson.check("test accuracy", acc, above=0.7)  # chance: 0.1
    if num_workers == 1:  # the same training on one context gives the same weights
        one, _ = train(lesson, (X_tr[:n], y_tr[:n]), mx.cpu(), "device")
        a, b = (dict(m._collect_params_with_prefix()) for m in (net, one))
        lesson.check("largest weight difference, 2 contexts vs 1",
                     max(float(abs(a[k].data() - b[k].data()).max().asscalar()) for k in a),
                     below=1e-4)
    if rank == 0:
        save_params(net, lesson.path("lenet5-params.npz"))
        lesson.save_plot(plot_history(history, title="data-parallel LeNet-5"), "training.png")
    lesson.finish()


if __name__ == "__main__":
    run(main)
