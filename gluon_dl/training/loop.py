"""The ``fit`` entry point: one training loop for any Gluon block."""
import dataclasses

import numpy as np

from .callbacks import CallbackList, History, ProgressBar, TerminateOnNaN


@dataclasses.dataclass
class FitState:
    """Where a training run stands; callbacks read and may stop it."""

    num_epochs: int
    batches_per_epoch: int = None
    epoch: int = 0
    batch: int = 0
    global_step: int = 0
    stop_training: bool = False


def _as_context(ctx):
    import mxnet as mx
    if ctx is None:
        return mx.cpu()
    if isinstance(ctx, (list, tuple)):
        if len(ctx) != 1:
            raise ValueError("fit() trains on one context; pass ctx=mx.cpu() or mx.gpu(0)")
        return ctx[0]
    return ctx


def fit(net, train_iter, num_epochs, *, loss=None, optimizer="adam", lr=1e-3,
        optimizer_params=None, trainer=None, ctx=None, val_iter=None, callbacks=None,
        progress=True, progress_desc="train", hybridize=True):
    """Train ``net`` on ``train_iter`` for ``num_epochs`` epochs.

    Defined for the lessons from linear regression on: every course model
    trains through it.

    Parameters
    ----------
    net : mxnet.gluon.Block
        Initialized or not; uninitialized parameters get Xavier init.
    train_iter : iterable of (X, y)
        Mini-batches; ``len(train_iter)`` sizes the progress bar.
    num_epochs : int
    loss : mxnet.gluon.loss.Loss, optional
        Default: softmax cross-entropy.
    optimizer, lr, optimizer_params :
        Passed to :class:`mxnet.gluon.Trainer` unless ``trainer`` is given.
    trainer : mxnet.gluon.Trainer, optional
    ctx : mxnet.Context, optional
        Default: CPU.
    val_iter : iterable of (X, y), optional
        Evaluated after every epoch (``val_acc`` in the logs).
    callbacks : list of Callback, optional
    progress : bool
        Show a progress bar.
    hybridize : bool
        Hybridize with ``static_alloc``/``static_shape`` before training.

    Returns
    -------
    History
        ``history.history`` maps ``loss``, ``acc`` (and ``val_acc``) to per-epoch values.
    """
    import mxnet as mx
    from mxnet import autograd, gluon

    ctx = _as_context(ctx)
    loss = loss or gluon.loss.SoftmaxCrossEntropyLoss()
    _ensure_initialized(net, ctx)
    if hybridize and isinstance(net, gluon.HybridBlock):
        net.hybridize(static_alloc=True, static_shape=True)
    if trainer is None:
        params = dict(optimizer_params or {})
        params.setdefault("learning_rate", lr)
        trainer = gluon.Trainer(net.collect_params(), optimizer, params)
    history = History()
    extra = [ProgressBar(progress_desc)] if progress else []
    cbs = CallbackList([history, TerminateOnNaN()] + extra + list(callbacks or []))
    state = FitState(num_epochs=num_epochs, batches_per_epoch=_len_or_none(train_iter))
    cbs.set_context(net, trainer, state)
    cbs.on_train_begin()
    for epoch in range(num_epochs):
        state.epoch = epoch
        cbs.on_epoch_begin(epoch)
        loss_sum, correct, seen = 0.0, 0, 0
        for batch, (X, y) in enumerate(train_iter):
            state.batch = batch
            cbs.on_batch_begin(batch)
            X, y = X.as_in_context(ctx), y.as_in_context(ctx)
            with autograd.record():
                out = net(X)
                l = loss(out, y)
            l.backward()
            trainer.step(X.shape[0])
            batch_loss = float(l.mean().asscalar())
            loss_sum += batch_loss * X.shape[0]
            correct += int((out.argmax(axis=1) == y.astype(out.dtype)).sum().asscalar())
            seen += X.shape[0]
            state.global_step += 1
            cbs.on_batch_end(batch, {"loss": batch_loss})
            if state.stop_training:
                break
        logs = {"loss": loss_sum / max(seen, 1), "acc": correct / max(seen, 1)}
        if val_iter is not None:
            logs["val_acc"] = evaluate_accuracy(net, val_iter, ctx)
        cbs.on_epoch_end(epoch, logs)
        if state.stop_training:
            break
    cbs.on_train_end()
    return history


def _len_or_none(it):
    try:
        return len(it)
    except TypeError:
        return None


def _ensure_initialized(net, ctx):
    import mxnet as mx
    params = net.collect_params()
    if any(p._data is None and p._deferred_init == () for p in params.values()):
        net.initialize(mx.init.Xavier(), ctx=ctx)


def predict(net, data_iter, ctx=None):
    """Concatenated outputs of ``net`` over the ``X`` of ``(X, y)`` batches, as numpy."""
    ctx = _as_context(ctx)
    outs = [net(X.as_in_context(ctx)).asnumpy() for X, _ in data_iter]
    return np.concatenate(outs) if outs else np.zeros((0,))


def evaluate_accuracy(net, data_iter, ctx=None):
    """Top-1 accuracy of ``net`` over ``data_iter``.

    Defined for the lesson on softmax regression; used by every classifier since.
    """
    ctx = _as_context(ctx)
    correct, seen = 0, 0
    for X, y in data_iter:
        out = net(X.as_in_context(ctx))
        correct += int((out.argmax(axis=1).astype("int64") == y.as_in_context(ctx).astype("int64")).sum().asscalar())
        seen += X.shape[0]
    return correct / max(seen, 1)
