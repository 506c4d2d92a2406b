"""Data-parallel LeNet-5 training on MXNet's parameter servers.

Locally, two workers and one server on this machine (loopback only):

    gluon-dl launch -n 2 -s 1 -- python examples/distributed_lenet.py --out /tmp/dist

On a cluster: list the hosts (one per line) in a hostfile, make this repository
and its virtual environment available at the same path on every host, allow
password-less ssh from the launching host, and run

    gluon-dl launch -n 4 -s 2 --hostfile hosts.txt --launcher ssh -- \\
        .venv/bin/python examples/distributed_lenet.py --out /shared/run1

Each worker walks the same global batches and trains on its shard of each;
the servers sum the gradients and run the optimizer, so the result equals
one process training with the global batch.  Run without the launcher, the
script trains in a single process (KVStore "device").
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("distributed_run"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch size")
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args(argv)
    distributed = "DMLC_ROLE" in os.environ
    kv = mx.kv.create("dist_sync" if distributed else "device")
    X, y = load_mnist()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, 1000)
    mx.random.seed(0)
    net = get_model("lenet5")
    transform = functools.partial(to_model_input, config=net.config)
    train = ArrayLoader(X_tr, y_tr, args.batch_size, shuffle=True, seed=0, transform=transform,
                        num_shards=kv.num_workers, shard=kv.rank, last_batch="discard")
    fit(net, train, args.epochs, optimizer="sgd",
        optimizer_params={"learning_rate": args.lr, "momentum": 0.9}, kvstore=kv,
        seed=0, progress=False)
    acc = evaluate_accuracy(net, ArrayLoader(X_te, y_te, 250, transform=transform))
    print(f"worker {kv.rank}/{kv.num_workers}: held-out accuracy {acc:.2%}")
    if kv.rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        np.savez(args.out / "lenet5-params.npz",
                 **{k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()})


if __name__ == "__main__":
    main()
