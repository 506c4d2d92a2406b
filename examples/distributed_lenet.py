"""Data-parallel LeNet-5 training on MXNet's parameter servers or Horovod.

Locally, two workers and one server on this machine (loopback only):

    gluon-dl launch -n 2 -s 1 -- python examples/distributed_lenet.py --out /tmp/dist

On a cluster: list the hosts (one per line) in a hostfile, make this repository
and its virtual environment available at the same path on every host, allow
password-less ssh from the launching host, and run

    gluon-dl launch -n 4 -s 2 --hostfile hosts.txt --launcher ssh -- \\
        .venv/bin/python examples/distributed_lenet.py --out /shared/run1

With Horovod (the 'horovod' extra), the same script runs one process per
device, here two on this machine over Gloo:

    horovodrun --gloo -np 2 -H localhost:2 python examples/distributed_lenet.py --out /tmp/hvd

Each worker walks the same global batches and trains on its shard of each;
the servers (or Horovod's allreduce) combine the gradients, so the result
equals one process training with the global batch.  Run without a launcher,
the script trains in a single process (KVStore "device").
"""
import argparse
import functools
import os
from pathlib import Path

import mxnet as mx
import numpy as np

from gluon_dl.data import ArrayLoader, load_mnist, to_model_input, train_test_split
from gluon_dl.models import get_model
from gluon_dl.training import evaluate_accuracy, fit


def _kvstore(dist_type):
    """``(kvstore, number of workers, this worker's rank)`` for how the script was started."""
    if "HOROVOD_RANK" in os.environ or "OMPI_COMM_WORLD_RANK" in os.environ:  # horovodrun
        import horovod.mxnet as hvd

        hvd.init()
        return "horovod", hvd.size(), hvd.rank()
    if "DMLC_ROLE" in os.environ:  # gluon-dl launch
        kv = mx.kv.create(dist_type)
        return kv, kv.num_workers, kv.rank
    return "device", 1, 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("distributed_run"))
    parser.add_argument("--epochs", type=int, default=2)
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
    args = parser.parse_args(argv)
    kvstore, num_workers, rank = _kvstore(args.kvstore)
    X, y = load_mnist()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, 1000)
    mx.random.seed(0)
    net = get_model("lenet5")
    transform = functools.partial(to_model_input, config=net.config)
    train = ArrayLoader(X_tr, y_tr, args.batch_size, shuffle=True, seed=0, transform=transform,
                        num_shards=num_workers, shard=rank, last_batch="discard")
    fit(net, train, args.epochs, optimizer="sgd",
        optimizer_params={"learning_rate": args.lr, "momentum": 0.9}, kvstore=kvstore,
        update_on_kvstore=False if args.local_updates else None, seed=0, progress=False)
    acc = evaluate_accuracy(net, ArrayLoader(X_te, y_te, 250, transform=transform))
    print(f"worker {rank}/{num_workers}: held-out accuracy {acc:.2%}")
    if rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        np.savez(args.out / "lenet5-params.npz",
                 **{k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()})


if __name__ == "__main__":
    main()
