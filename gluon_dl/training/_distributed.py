"""What changes when a run spans several processes: Horovod and the global batch.

``fit`` reaches MXNet's parameter servers through a KVStore (``dist_*``) and
Horovod through ``horovod.mxnet``'s ``DistributedTrainer``; both need the
gradient rescaled by the right batch size and every process started from
the same weights.
"""
import os

from ..errors import ArgumentError, DataError
from ..utils.deps import require

HOROVOD = "horovod"
HOROVOD_INSTALL = ("HOROVOD_WITH_MXNET=1 HOROVOD_WITH_GLOO=1 "
                   "pip install --no-build-isolation -c constraints.txt -e '.[horovod]'")


def horovod(kvstore, trainer):
    """Initialized ``horovod.mxnet`` when ``kvstore`` is ``"horovod"``, else None."""
    if not (isinstance(kvstore, str) and kvstore.lower() == HOROVOD):
        return None
    hvd = require("horovod.mxnet", HOROVOD, "kvstore='horovod'",
                  install=HOROVOD_INSTALL)
    hvd.init()
    if trainer is not None and not isinstance(trainer, hvd.DistributedTrainer):
        raise ArgumentError("kvstore='horovod' with your own trainer needs a "
                            "horovod.mxnet.DistributedTrainer, got "
                            f"{type(trainer).__name__}; or pass no trainer and let fit build one")
    return hvd


def horovod_contexts(hvd, ctx):
    """This process's one context: ``ctx``, or GPU ``local_rank`` (CPU without GPUs)."""
    import mxnet as mx

    if ctx is None:
        gpus = mx.context.num_gpus()
        return [mx.gpu(hvd.local_rank() % gpus) if gpus else mx.cpu()]
    ctxs = list(ctx) if isinstance(ctx, (list, tuple)) else [ctx]
    if len(ctxs) != 1:
        raise ArgumentError(f"kvstore='horovod' trains one context per process, got {len(ctxs)} "
                            f"({ctxs}): start one process per device with horovodrun and pass "
                            f"ctx=mx.gpu(hvd.local_rank()) (or nothing)")
    return ctxs


def materialize(net, batches, ctx):
    """Finish deferred initialization with the first of ``(index, (X, y))`` ``batches``.

    Horovod broadcasts weights that exist; a network whose shapes wait for
    its first input gets them from one sample of the first batch.
    """
    import mxnet as mx

    if all(p._data is not None for p in net.collect_params().values()):
        return
    try:
        _, (X, _) = next(iter(batches))
    except StopIteration:
        raise DataError("the training data is empty: train_iter yielded no batch to size "
                        "the network's weights from") from None
    inputs = X if isinstance(X, (tuple, list)) else (X,)
    with mx.autograd.pause():
        net(*[x[:1].as_in_context(ctx) for x in inputs])


def global_batch(trainer, n):
    """The batch size to rescale this step's gradients by: the global batch.

    With ``dist_sync`` the servers sum the workers' gradients before one
    update, so the rescale divides by the global batch.  With ``dist_async``
    every push is an update of its own; dividing by the global batch too makes
    each one 1/num_workers of a step, so an epoch moves the weights about as
    far as a synchronous one at the same learning rate (a full step per push
    multiplies the effective rate by the number of workers, and diverges
    where the synchronous run converges).  The KVStore is not initialized
    here: Gluon checks the batch size against its first step.  Horovod's
    ``DistributedTrainer`` has no KVStore and averages over processes itself.
    """
    kv = trainer._kvstore if trainer._kv_initialized else trainer._kvstore_params["kvstore"]
    if kv is None:
        return n
    kind = kv if isinstance(kv, str) else kv.type
    if "dist" not in kind:
        return n
    return n * (int(os.environ.get("DMLC_NUM_WORKER", "1")) if isinstance(kv, str)
                else kv.num_workers)


def meet_before_first_update(trainer):
    """With ``dist_*`` and local updates, wait for every worker before the first push.

    MXNet 1.9's ``dist_sync`` with ``update_on_kvstore=False`` answers one
    worker's first gradient pull with the values the KVStore was initialized
    with (the weights) unless every worker has finished initializing it, and
    the workers' weights part from the first step on.  The reverse also
    happens: setting the KVStore up queues a pull of every weight, and a pull
    the engine runs only after the other workers pushed their first gradients
    is answered with the gradients' sum, which lands in the weights (about
    one run in 30 on a loaded 2-core host: the network stops learning).
    Called after the first backward pass (deferred shapes are known then): set
    the KVStore up now, wait for its pulls, and meet at a barrier.
    """
    import mxnet as mx
    if not _dist_with_local_updates(trainer):
        return  # and the KVStore stays uninitialized until step() sets it up as usual
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    if trainer._kvstore is None or trainer._update_on_kvstore:
        return
    if trainer._params_to_init:
        trainer._init_params()
    # _init_params queues a pull of every weight; a pull still queued when another worker
    # pushes its first gradients would be answered with their sum, written into the
    # weights. So the pulls finish before the workers meet.
    mx.nd.waitall()
    trainer._kvstore._barrier()


def _dist_with_local_updates(trainer):
    """Whether ``trainer`` was asked for a ``dist_*`` KVStore with updates on the workers."""
    params = getattr(trainer, "_kvstore_params", None) or {}
    kv = params.get("kvstore")
    kind = kv if isinstance(kv, str) else getattr(kv, "type", "")
    local = params.get("update_on_kvstore")
    if local is None:  # MXNet's own default: MXNET_UPDATE_ON_KVSTORE, else on the KVStore
        local = os.environ.get("MXNET_UPDATE_ON_KVSTORE", "1") == "0"
    else:
        local = not local
    return str(kind).startswith("dist") and local
