"""The ``fit`` entry point: one training loop for any Gluon block.

One CPU, several devices (``ctx=[...]``, data-parallel through a KVStore)
and resumed runs all go through the same loop; devices and KVStore are
arguments, not branches in user scripts.
"""
import dataclasses
import functools

import numpy as np

from ..errors import GluonDLError, InputShapeError
from . import _channel_pad
from . import amp as _amp
from ._distributed import global_batch, horovod, horovod_contexts, materialize
from .callbacks import CallbackList, History, ProgressBar, TerminateOnNaN


@dataclasses.dataclass
class FitState:
    """Where a training run stands; callbacks read it and may stop the run.

    ``batch`` is the index of the last finished batch of ``epoch`` (-1 before
    the first); the running sums let a resumed epoch report the same logs.
    """

    num_epochs: int
    batches_per_epoch: int = None
    epoch: int = 0
    batch: int = -1
    global_step: int = 0
    seed: int = None
    stop_training: bool = False
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0


def as_contexts(ctx):
    """``ctx`` as a non-empty list of contexts (default: ``[mx.cpu()]``)."""
    import mxnet as mx
    if ctx is None:
        return [mx.cpu()]
    ctxs = list(ctx) if isinstance(ctx, (list, tuple)) else [ctx]
    if not ctxs:
        raise ValueError("ctx is an empty list; pass e.g. ctx=[mx.cpu(0), mx.cpu(1)]")
    return ctxs


def fit(net, train_iter, num_epochs, *, loss=None, optimizer="adam", lr=1e-3,
        optimizer_params=None, trainer=None, ctx=None, kvstore="device",
        update_on_kvstore=None, val_iter=None, callbacks=None, progress=True,
        progress_desc="train", hybridize=True, seed=None, resume_from=None, amp=None):
    """Train ``net`` on ``train_iter`` for ``num_epochs`` epochs.

    Defined for the lessons from linear regression on: every course model
    trains through it.

    Parameters
    ----------
    net : mxnet.gluon.Block
        Initialized or not; uninitialized parameters get Xavier init on ``ctx``.
    train_iter : iterable of (X, y)
        Mini-batches. ``X`` is the network's input, or a tuple of inputs for
        a network with several (``net(*X)``: a Transformer's source, target
        and valid length); ``y`` is the target, or a tuple of targets.  An
        :class:`~gluon_dl.data.ArrayLoader` (or anything with
        ``batches(epoch, start)``) makes the data order resumable.
    num_epochs : int
    loss : callable, optional
        ``loss(output, *y) -> per-sample losses`` (``output`` is a tuple for
        networks with several outputs); default softmax cross-entropy.
    optimizer, lr, optimizer_params :
        Passed to :class:`mxnet.gluon.Trainer` unless ``trainer`` is given.
    trainer : mxnet.gluon.Trainer, optional
    ctx : Context or list of Context, optional
        Several contexts train data-parallel: each batch is split across them
        and gradients are reduced through the KVStore.
    kvstore : str or KVStore
        ``"device"``, ``"local"``, ``"nccl"``, ``"dist_sync"``, ``"dist_device_sync"``,
        ``"dist_async"``, or ``"horovod"``: allreduce through ``horovod.mxnet``
        (one process and one context per device, started by ``horovodrun``;
        rank 0's initial weights are broadcast, gradients are averaged over
        all processes, and only rank 0 shows a progress bar).
    update_on_kvstore : bool, optional
        Let the KVStore run the optimizer (MXNet's default for most stores).
    val_iter : iterable of (X, y), optional
        Evaluated after every epoch: ``val_loss`` in the logs, and
        ``val_acc`` when the outputs are class scores.
    callbacks : list of Callback, optional
    progress : bool
        Show a progress bar.
    hybridize : bool
        Hybridize with ``static_alloc``/``static_shape`` before training.
    seed : int, optional
        Reseeds MXNet's RNG before every step from ``(seed, step)``, so dropout
        and other random ops are reproducible and a resumed run draws the
        same numbers as an uninterrupted one.
    resume_from : str or Path, optional
        A checkpoint written by :class:`ModelCheckpoint`; training continues
        after the batch it was saved at.
    amp : {None, "float16", "bfloat16"}
        Mixed precision: float16 with dynamic loss scaling on GPUs, bfloat16
        on CPUs with AVX-512; float32 master weights either way (see
        :mod:`gluon_dl.training.amp`).

    Returns
    -------
    History
        ``history.history`` maps ``loss``, ``acc`` (and ``val_loss``, ``val_acc``) to
        per-epoch values; ``acc`` and ``val_acc`` only for classifiers.
    """
    import mxnet as mx
    from mxnet import gluon

    hvd = horovod(kvstore, trainer)
    ctxs = as_contexts(ctx) if hvd is None else horovod_contexts(hvd, ctx)
    _amp.check_amp(amp, ctxs, update_on_kvstore)
    loss = loss or gluon.loss.SoftmaxCrossEntropyLoss()
    _ensure_initialized(net, ctxs)
    if hvd is not None:
        progress = progress and hvd.rank() == 0
    if amp is not None:
        _amp.enable_amp(amp, net)
    if hybridize and isinstance(net, gluon.HybridBlock):
        net.hybridize(static_alloc=True, static_shape=True)
    if trainer is None:
        params = dict(optimizer_params or {})
        params.setdefault("learning_rate", lr)
        if amp is not None:
            params.setdefault("multi_precision", True)
            update_on_kvstore = False if amp == "float16" else update_on_kvstore
        if hvd is not None:
            trainer = hvd.DistributedTrainer(net.collect_params(), optimizer, params)
        else:
            trainer = gluon.Trainer(net.collect_params(), optimizer, params, kvstore=kvstore,
                                    update_on_kvstore=update_on_kvstore)
    _amp.init_trainer(amp, trainer)
    state = FitState(num_epochs=num_epochs, batches_per_epoch=_len_or_none(train_iter),
                     seed=seed)
    if resume_from is not None:
        _resume(resume_from, net, trainer, state, train_iter)
    if hvd is not None:  # every process starts from rank 0's weights
        materialize(net, _epoch_batches(train_iter, 0, 0), ctxs[0])
        hvd.broadcast_parameters(net.collect_params(), root_rank=0)
    history = History()
    extra = [ProgressBar(progress_desc)] if progress else []
    cbs = CallbackList([history, TerminateOnNaN()] + extra + list(callbacks or []))
    cbs.set_context(net, trainer, state)
    cbs.on_train_begin()
    step = _make_step(net, loss, trainer, ctxs, state, cbs, amp)
    while state.epoch < num_epochs and not state.stop_training:
        epoch = state.epoch
        cbs.on_epoch_begin(epoch)
        for batch, (X, y) in _epoch_batches(train_iter, epoch, state.batch + 1):
            step(batch, X, y)
            if state.stop_training:
                break
        logs = {"loss": state.loss_sum / max(state.seen, 1)}
        if state.correct >= 0:
            logs["acc"] = state.correct / max(state.seen, 1)
        if val_iter is not None:
            logs.update(validate(net, val_iter, loss, ctxs))
        cbs.on_epoch_end(epoch, logs)
        if state.stop_training:
            break
        state.epoch, state.batch = epoch + 1, -1
        state.loss_sum, state.correct, state.seen = 0.0, 0, 0
    if hvd is not None:  # finish this rank's allreduces before Horovod may shut down
        mx.nd.waitall()
    cbs.on_train_end()
    return history


def _make_step(net, loss, trainer, ctxs, state, cbs, amp=None, fuse=True):
    """The per-batch training step, bound to one run.

    A batch is ``(X, y)``: ``X`` the network's input, or a tuple of inputs
    passed in order (``net(*X)``); ``y`` the target, or a tuple passed to the
    loss after the output (``loss(output, *y)``).  With ``fuse`` (and a
    hybridizable network and loss), forward, loss and the step's metrics run
    as one cached graph per device (``TrainGraph``), built on the first
    batch; otherwise the network and the loss are called one after the other
    and the metrics are computed imperatively.
    """
    import mxnet as mx
    from mxnet import autograd

    graph = {}  # built on the first batch, when the shapes are known

    def step(batch, X, y):
        cbs.on_batch_begin(batch)
        if state.seed is not None:
            mx.random.seed(_step_seed(state.seed, state.global_step))
        xs, ys = _split(X, ctxs), _split(y, ctxs)  # per device: a tuple of arrays
        n = _batch_size(X)
        if "net" not in graph:
            graph["net"] = _build_train_graph(net, loss, xs[0], ys[0]) if fuse else None
        fused = graph["net"]
        try:
            with autograd.record():
                if fused is not None:
                    results = [fused(*x, *t) for x, t in zip(xs, ys)]
                    losses = [r[0] for r in results]
                else:
                    outs = [net(*x) for x in xs]
                    losses = [loss(o, *t) for o, t in zip(outs, ys)]
        except mx.base.MXNetError as exc:
            raise _batch_error(exc, net, batch, X, y) from None
        _amp.backward(amp, trainer, losses)
        cbs.on_backward_end(batch)
        trainer.step(global_batch(trainer, n))
        if fused is not None:
            loss_total, hits = _read_graph_metrics([r[1] for r in results], fused.classify)
        else:
            loss_total, hits = _read_metrics(losses, outs, ys, state.correct >= 0)
        state.loss_sum += loss_total
        state.correct = state.correct + hits if state.correct >= 0 and hits >= 0 else -1
        state.seen += n
        state.batch = batch
        state.global_step += 1
        cbs.on_batch_end(batch, {"loss": loss_total / n})
    return step


def _batch_error(exc, net, batch, X, y):
    """One clear error for a batch the network or loss rejects (shapes, dtypes...)."""
    lines = [l.strip() for l in str(exc).splitlines() if l.strip()]
    reason = next((l for l in lines if "Error in operator" in l or "Check failed" in l),
                  lines[-1] if lines else type(exc).__name__)
    reason = reason.replace("MXNetError: ", "")
    shapes = ", ".join(str(tuple(a.shape)) for a in _as_tuple(X))
    targets = ", ".join(str(tuple(a.shape)) for a in _as_tuple(y))
    config = getattr(net, "config", None)
    expected = ""
    if config is not None:
        wanted = ", ".join(str(("N",) + tuple(spec.shape)) for spec in config.inputs)
        expected = f"; model '{config.name}' takes {wanted}"
    return InputShapeError(f"training batch {batch} does not fit the network or the loss: "
                           f"{reason}. Inputs {shapes}, targets {targets}{expected}; check "
                           f"the loader's shapes (and layout) against the model's input")


def _as_tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _batch_size(X):
    """Samples in a batch: the leading axis of its (first) input."""
    return _as_tuple(X)[0].shape[0]


def _split(value, ctxs):
    """``value`` (an array or a tuple of arrays) as one tuple of slices per context."""
    from mxnet import gluon

    parts = [gluon.utils.split_and_load(v, ctxs, even_split=False) for v in _as_tuple(value)]
    return list(zip(*parts))


@functools.lru_cache(maxsize=None)
def _train_graph_class():
    import mxnet as mx
    from mxnet import gluon

    class TrainGraph(gluon.HybridBlock):
        """``net`` + ``loss`` + the step's metrics as one hybridized graph.

        Called with the network's inputs, then the loss's targets; outputs the
        per-sample losses (what backward starts from) and a small vector
        ``[sum of losses, top-1 hits]`` (hits only when ``classify``).  One
        cached-op call per device replaces the network's call, the loss's
        half-dozen imperative operators and the metric operators; on a network
        as small as LeNet-5 those calls cost as much as the convolutions.  The
        block owns no parameters: it shares ``net``'s.  With ``pad_channels``
        (CPUs without AVX-512), narrow convolution stages run padded to
        oneDNN's channel block (see ``_channel_pad``); the values are the same.
        """

        def __init__(self, net, loss, input_shapes, classify, pad_channels=False):
            super().__init__(prefix="train_graph_")
            self.net, self.loss = net, loss
            self.input_shapes = input_shapes  # the first batch's: inputs, then targets
            self.num_inputs, self.classify = len(input_shapes[0]), classify
            self.pad_channels = pad_channels

        def hybrid_forward(self, F, *args):
            xs, ys = args[:self.num_inputs], args[self.num_inputs:]
            out = self.net(*xs)
            losses = self.loss(out, *ys)
            parts = [F.sum(F.cast(losses, "float32")).reshape((1,))]
            if self.classify:
                hits = F.sum(F.cast(F.argmax(out, axis=1), "float32") ==
                             F.cast(ys[0], "float32"))
                parts.append(hits.reshape((1,)))
            metrics = F.concat(*parts, dim=0)
            if self.pad_channels and F is mx.sym:
                shapes = dict(zip([a.name for a in args], sum(self.input_shapes, ())))
                padded = _channel_pad.pad_channels(mx.sym.Group([losses, metrics]), shapes)
                losses, metrics = padded[0], padded[1]
            return losses, metrics

    return TrainGraph


def _build_train_graph(net, loss, xs, ys):
    """A hybridized ``TrainGraph`` of ``net`` and ``loss`` for inputs ``xs``, targets ``ys``.

    None (the step calls network and loss separately) when either is not a
    ``HybridBlock``, the network is not hybridized, an input or target is not
    an NDArray, or network and loss cannot be traced symbolically (a block
    that reads values back, say) to shapes known from the inputs'.
    """
    import mxnet as mx
    from mxnet import gluon

    if not (isinstance(net, gluon.HybridBlock) and isinstance(loss, gluon.HybridBlock)
            and getattr(net, "_active", False)
            and all(isinstance(a, mx.nd.NDArray) for a in xs + ys)):
        return None
    ranks = _output_ranks(net, loss, xs, ys)
    if ranks is None:
        return None
    classify = ranks == [2] and len(ys) == 1 and ys[0].ndim == 1
    pad = xs[0].context.device_type == "cpu" and _channel_pad.worthwhile()
    shapes = (tuple(x.shape for x in xs), tuple(y.shape for y in ys))
    graph = _train_graph_class()(net, loss, shapes, classify, pad_channels=pad)
    graph.hybridize(static_alloc=True, static_shape=True)
    return graph


def _output_ranks(net, loss, xs, ys):
    """Ranks of ``net(*xs)``'s outputs, if network and loss trace symbolically; else None."""
    import mxnet as mx

    names = [f"data{i}" for i in range(len(xs))]
    try:
        sym = net(*[mx.sym.var(n) for n in names])
        loss(sym, *[mx.sym.var(f"label{i}") for i in range(len(ys))])
        if isinstance(sym, (tuple, list)):
            sym = mx.sym.Group(list(sym))
        if not isinstance(sym, mx.sym.Symbol):
            return None
        _, out_shapes, _ = sym.infer_shape_partial(**{n: x.shape for n, x in zip(names, xs)})
    except Exception:  # noqa: BLE001 - any block that can't be traced runs unfused
        return None
    if not out_shapes or any(not s for s in out_shapes):
        return None
    return [len(s) for s in out_shapes]


def _read_graph_metrics(parts, classify):
    """Loss sum and hits from the fused graphs' metric vectors, in one device sync."""
    import mxnet as mx

    if len(parts) == 1:
        values = parts[0].asnumpy().astype("float64")[None]
    else:
        values = mx.nd.stack(*[p.as_in_context(mx.cpu()) for p in parts]).asnumpy()
        values = values.astype("float64")
    return float(values[:, 0].sum()), (int(round(values[:, 1].sum())) if classify else -1)


def _step_seed(seed, step):
    return (int(seed) * 1_000_003 + int(step)) % (2 ** 31 - 1)


def _read_metrics(losses, outs, ys, count_hits):
    """Loss sum and top-1 hits of one step, read back in a single device sync.

    Every read from the device waits for the step to finish; one read per step
    instead of one per metric and device keeps small networks' steps short.
    Hits are -1 when the outputs are not class scores.  ``ys`` holds one
    tuple of targets per device.
    """
    import mxnet as mx

    parts = [l.sum().astype("float64") for l in losses]
    classify = count_hits and all(
        isinstance(o, mx.nd.NDArray) and o.ndim == 2 and len(t) == 1 and t[0].ndim == 1
        for o, t in zip(outs, ys))
    if classify:
        parts += [(o.argmax(axis=1) == t[0].astype(o.dtype)).sum().astype("float64")
                  for o, t in zip(outs, ys)]
    values = mx.nd.concat(*[p.reshape((1,)).as_in_context(mx.cpu()) for p in parts],
                          dim=0).asnumpy()
    n = len(losses)
    return float(values[:n].sum()), (int(values[n:].sum()) if classify else -1)


def _epoch_batches(train_iter, epoch, start):
    """``(index, batch)`` pairs of ``epoch`` from batch ``start`` on."""
    if hasattr(train_iter, "batches"):
        return enumerate(train_iter.batches(epoch, start=start), start=start)
    if start > 0:
        raise ValueError("resuming mid-epoch needs a loader with batches(epoch, start) "
                         "(e.g. gluon_dl.data.ArrayLoader) to reproduce the data order")
    return enumerate(train_iter)


def _resume(path, net, trainer, state, train_iter):
    from .checkpoint import load_checkpoint

    meta = load_checkpoint(path, net, trainer)
    state.epoch, state.batch, state.global_step = meta["epoch"], meta["batch"], meta["global_step"]
    state.loss_sum, state.correct, state.seen = meta.get("loss_sum", 0.0), \
        meta.get("correct", 0), meta.get("seen", 0)
    if state.seed is None:
        state.seed = meta.get("seed")
    if state.batches_per_epoch is not None and state.batch + 1 >= state.batches_per_epoch:
        state.epoch, state.batch = state.epoch + 1, -1
        state.loss_sum, state.correct, state.seen = 0.0, 0, 0


def _len_or_none(it):
    try:
        return len(it)
    except TypeError:
        return None


def _ensure_initialized(net, ctxs):
    import mxnet as mx
    params = net.collect_params()
    if any(p._data is None and p._deferred_init == () for p in params.values()):
        net.initialize(mx.init.Xavier(), ctx=ctxs)
    elif any(p._data is not None and set(p.list_ctx()) != set(ctxs) for p in params.values()):
        params.reset_ctx(ctxs)  # trained elsewhere: copy the weights onto every device


def predict(net, data_iter, ctx=None):
    """Concatenated outputs of ``net`` over the ``X`` of ``(X, y)`` batches, as numpy."""
    ctx = as_contexts(ctx)[0]
    outs = [net(*_on(X, ctx)).asnumpy() for X, _ in data_iter]
    return np.concatenate(outs) if outs else np.zeros((0,))


def validate(net, data_iter, loss=None, ctx=None):
    """Mean loss (``val_loss``) and, for class scores, top-1 accuracy (``val_acc``).

    Batches are ``(X, y)`` as in :func:`fit`; the network runs in inference
    mode (no dropout, BatchNorm's running statistics).
    """
    from mxnet import gluon

    total, correct, seen = _evaluate(net, data_iter, ctx,
                                     loss or gluon.loss.SoftmaxCrossEntropyLoss())
    logs = {"val_loss": total / max(seen, 1)}
    if correct is not None and seen:
        logs["val_acc"] = correct / seen
    return logs


def evaluate_accuracy(net, data_iter, ctx=None):
    """Top-1 accuracy of ``net`` over ``data_iter``.

    Defined for the lesson on softmax regression; used by every classifier since.
    """
    _, correct, seen = _evaluate(net, data_iter, ctx)
    if correct is None:
        raise GluonDLError("evaluate_accuracy needs class scores (N, classes) and labels (N,); "
                           "use validate(net, data, loss) for other outputs")
    return correct / max(seen, 1)


def _evaluate(net, data_iter, ctx, loss=None):
    """Loss sum (0 without ``loss``), top-1 hits (None unless class scores) and samples."""
    import mxnet as mx

    ctx = as_contexts(ctx)[0]
    total, correct, seen = 0.0, 0, 0
    for X, y in data_iter:
        out = net(*_on(X, ctx))
        ys = _on(y, ctx)
        if loss is not None:
            total += float(loss(out, *ys).sum().asscalar())
        if correct is not None and isinstance(out, mx.nd.NDArray) and out.ndim == 2 \
                and len(ys) == 1 and ys[0].ndim == 1:
            correct += int((out.argmax(axis=1).astype("int64") ==
                            ys[0].astype("int64")).sum().asscalar())
        else:
            correct = None
        seen += _batch_size(X)
    return total, correct, seen


def _on(X, ctx):
    """The input (or tuple of inputs) ``X`` on ``ctx``, as a tuple."""
    return tuple(x.as_in_context(ctx) for x in _as_tuple(X))
