"""The ``fit`` entry point: one training loop for any Gluon block.

One CPU, several devices (``ctx=[...]``, data-parallel through a KVStore)
and resumed runs all go through the same loop; devices and KVStore are
arguments, not branches in user scripts.
"""
import dataclasses
import functools

import numpy as np

from ..errors import ArgumentError, DataError
from . import _bn_relu, _channel_pad, _global_pool
from . import amp as _amp
from ._distributed import (global_batch, horovod, horovod_contexts, materialize,
                           meet_before_first_update)
from ._guards import (ParameterCheck, as_tuple, batch_error, check_arguments, check_components,
                      check_contexts, check_finite_inputs, check_gpus, check_inputs,
                      check_labels, check_loss, check_numeric, empty_epoch_error,
                      is_classifier, label_classes, log, model_config, probe_input_shapes,
                      read_flags, unpack_batch, where)
from .callbacks import CallbackList, History, ProgressBar, overlap_safe


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
    check_contexts(ctxs)
    return ctxs


def fit(net, train_iter, num_epochs, *, loss=None, optimizer="adam", lr=1e-3,
        optimizer_params=None, trainer=None, ctx=None, kvstore="device",
        update_on_kvstore=None, val_iter=None, callbacks=None, progress=True,
        progress_desc="train", hybridize=True, seed=None, resume_from=None, amp=None,
        check_finite=True, channel_pad=None, pool_as_mean=None, bn_relu=False, overlap=None):
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
        Whole number >= 0.
    loss : callable, optional
        ``loss(output, *y) -> per-sample losses`` (``output`` is a tuple for
        networks with several outputs); default softmax cross-entropy.
    optimizer, lr, optimizer_params :
        Passed to :class:`mxnet.gluon.Trainer` unless ``trainer`` is given;
        ``lr`` (and a ``learning_rate`` in ``optimizer_params``, which wins)
        must be positive and finite.  An :class:`mxnet.optimizer.Optimizer`
        instance carries its own settings: then no ``optimizer_params``.
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
        ``val_acc`` for classifiers (see Returns).
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
    check_finite : bool
        Stop with :class:`~gluon_dl.errors.NonFiniteError`, naming the epoch,
        batch and global step, at the first NaN or Inf in an input or target
        (checked on the host before the step, so the weights stay clean), in
        a gradient or in a parameter after the update (both named by their
        structural name, e.g. ``features.0.weight``).  It costs a host pass
        over each batch and one sum-of-squares reduction per device after the
        update, read right after the step's metrics; ``False`` skips these
        checks for speed.  A non-finite loss stops the run either way.
    channel_pad : {None, True, False}
        Run narrow convolution stages padded to oneDNN's channel block of the
        CPU (8; 16 with AVX-512) on CPU contexts (same values; blocked JIT
        kernels instead of a reference pooling or GEMM convolutions; see
        :mod:`gluon_dl.training._channel_pad`): ``None`` decides by the CPU
        (on with and without AVX-512), ``True`` forces it on CPUs, ``False``
        turns it off.  Only the fused training graph is padded.
    pool_as_mean : {None, True, False}
        Compute global average pooling as a mean over the spatial axes in the
        training graph on CPU contexts (same values; on AVX-512, oneDNN
        otherwise runs the pooling's backward, and the batch normalizations
        its gradient reaches, in reference kernels; see
        :mod:`gluon_dl.training._global_pool`): ``None`` decides by the CPU
        (on with AVX-512), ``True`` forces it on CPUs, ``False`` turns it off.
        Only the fused training graph is rewritten.
    bn_relu : bool
        Run each BatchNorm whose only reader is a ReLU as oneDNN's fused
        ``BatchNormWithReLU`` in the training graph on CPU contexts (same
        outputs and gradients, one pass over the activations instead of two:
        CIFAR ResNet-20 1.07-1.08x on AVX-512; see
        :mod:`gluon_dl.training._bn_relu`).  Off by default: oneDNN has no
        fused backward for some layers (MobileNet 0.75 fails on its first
        batch).  Only the fused training graph is rewritten.
    overlap : {None, True, False}
        Queue each batch's forward and backward before reading the previous
        batch's metrics back, so that the Python work between steps (the
        metrics, checks, callbacks, the optimizer call) runs while MXNet
        computes (same operators in the same order, same weights; LeNet-5
        1.14x at 1 thread on 2 cores).  Callbacks then see ``on_batch_end(k)`` before
        ``on_batch_begin(k + 1)``, both after batch ``k + 1``'s forward and
        backward were queued and before its optimizer step: weights read in
        ``on_batch_end`` are batch ``k``'s, gradients are not.  ``None``
        turns it on when every callback is marked ``overlap_safe`` or has no
        batch hooks (the library's own callbacks are; a callback that changes
        weights at a batch's end, like pruning masks, is not), float16 AMP is
        off, and MXNet's computation leaves Python a core: on GPUs, or when
        ``OMP_NUM_THREADS`` is below the CPUs this process may use (with
        every core computing, the moved Python work slows the kernels as
        much as it saves: 0.95x); ``True`` forces it on, ``False`` off.

    Returns
    -------
    History
        ``history.history`` maps ``loss``, ``acc`` (and ``val_loss``, ``val_acc``) to
        per-epoch values.  ``acc`` and ``val_acc`` (top-1) only for classifiers:
        a model whose ``config.task`` is ``"classification"``, or a plain block
        that outputs scores ``(N, classes)`` for labels ``(N,)``.  Regression,
        language models (their ``exp(loss)`` is the perplexity) and other tasks
        log losses only.

    Raises
    ------
    ArgumentError
        A bad argument: ``num_epochs``, ``lr``, ``ctx``, ``check_finite``, ``channel_pad``,
        ``pool_as_mean``, ``bn_relu``.
    InputShapeError
        A batch whose inputs contradict ``net.config`` (number, rank, dtype,
        shape) or that the network or loss rejects.
    DataError
        ``train_iter`` yields no batch in an epoch, or something else than
        ``(X, y)``, or class labels outside ``[0, classes)``.
    NonFiniteError
        NaN or Inf in the inputs, loss, gradients or parameters.
    """
    import mxnet as mx
    from mxnet import gluon

    check_arguments(num_epochs, lr, optimizer_params, check_finite, channel_pad, overlap)
    _global_pool.check(pool_as_mean)
    _bn_relu.check(bn_relu)
    check_components(loss, None if trainer is not None else optimizer, kvstore, callbacks)
    hvd = horovod(kvstore, trainer)
    ctxs = as_contexts(ctx) if hvd is None else horovod_contexts(hvd, ctx)
    check_gpus(ctxs)
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
        trainer = _make_trainer(net, optimizer, lr, optimizer_params, kvstore,
                                update_on_kvstore, amp, hvd)
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
    cbs = CallbackList([history] + extra + list(callbacks or []))
    cbs.set_context(net, trainer, state)
    cbs.on_train_begin()
    if overlap is None:
        overlap = amp != "float16" and overlap_safe(cbs) and _core_to_spare(ctxs)
    step = _make_step(net, loss, trainer, ctxs, state, cbs, amp, check_finite=check_finite,
                      channel_pad=channel_pad, pool_as_mean=pool_as_mean, bn_relu=bn_relu,
                      overlap=overlap)
    while state.epoch < num_epochs and not state.stop_training:
        epoch, start, ran = state.epoch, state.batch + 1, False
        cbs.on_epoch_begin(epoch)
        try:
            for batch, item in _epoch_batches(train_iter, epoch, start):
                ran = True
                step(batch, *unpack_batch(item, batch))
                if state.stop_training:
                    break
        except BaseException:
            step.flush()  # the batch before the failing one still ends as it would have
            raise
        step.flush()
        if not ran and start == 0:
            raise empty_epoch_error(epoch)
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


def _core_to_spare(ctxs):
    """Whether Python can run beside MXNet's computation without taking its cores.

    On a GPU the host is free while kernels run.  On CPUs, MXNet's OpenMP
    threads (``OMP_NUM_THREADS``, else one per CPU) must leave a CPU of this
    process's affinity free: with every core computing, Python work moved
    into the step slows the kernels as much as it saves (LeNet-5 at 2
    threads on 2 cores: 0.95x; at 1 thread: 1.14x).
    """
    import os

    if any(c.device_type == "gpu" for c in ctxs):
        return True
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    setting = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    threads = int(setting) if setting.isdigit() and int(setting) > 0 else cpus
    return threads < cpus


def _make_trainer(net, optimizer, lr, optimizer_params, kvstore, update_on_kvstore, amp, hvd):
    """The trainer ``fit`` builds when it is given none."""
    import mxnet as mx
    from mxnet import gluon

    if isinstance(optimizer, mx.optimizer.Optimizer):
        if optimizer_params:
            raise ArgumentError("optimizer_params apply to an optimizer given by name; set "
                                f"them on the {type(optimizer).__name__} instance instead")
        params = None  # the instance carries its own rate
    else:
        params = dict(optimizer_params or {})
        params.setdefault("learning_rate", lr)
        if amp is not None:
            params.setdefault("multi_precision", True)
    if amp == "float16":
        update_on_kvstore = False
    if hvd is not None:
        return hvd.DistributedTrainer(net.collect_params(), optimizer, params)
    return gluon.Trainer(net.collect_params(), optimizer, params, kvstore=kvstore,
                         update_on_kvstore=update_on_kvstore)


def _make_step(net, loss, trainer, ctxs, state, cbs, amp=None, fuse=True, check_finite=True,
               channel_pad=None, pool_as_mean=False, bn_relu=False, overlap=False):
    """The per-batch training step, bound to one run.

    A batch is ``(X, y)``: ``X`` the network's input, or a tuple of inputs
    passed in order (``net(*X)``); ``y`` the target, or a tuple passed to the
    loss after the output (``loss(output, *y)``).  With ``fuse`` (and a
    hybridizable network and loss), forward, loss and the step's metrics run
    as one cached graph per device (``TrainGraph``), built on the first
    batch; otherwise the network and the loss are called one after the other
    and the metrics are computed imperatively.  Each batch is checked first
    (see :mod:`gluon_dl.training._guards`); with ``check_finite`` the
    gradients and updated parameters are checked too, their flags read back
    right after the metrics.  ``channel_pad``, ``pool_as_mean`` and ``bn_relu``
    are :func:`fit`'s switches (``fit`` passes ``pool_as_mean=None``,
    automatic; off here, the fused graph's float32 rounding stays that of
    separate calls).

    With ``overlap``, a batch's forward and backward are queued before the
    previous batch's metrics are read back: that batch is finished (metrics,
    checks, ``on_batch_end``) while MXNet's engine computes the new one, and
    only then does the new batch get ``on_batch_begin``,
    ``on_backward_end`` and its optimizer step.  Every operator runs in the
    same order on the same values; the Python work between steps stops
    leaving the engine idle.  The returned step's ``flush()`` finishes the
    batch still open (``fit`` calls it at each epoch's end and on errors).
    """
    import mxnet as mx
    from mxnet import autograd

    config = model_config(net)
    run = {}  # decided on the first batch, when the shapes are known
    # float16's loss scaler expects overflowing gradients and skips those updates
    finite = ParameterCheck(net, gradients=amp != "float16") if check_finite else None

    def launch(batch, X, y, ahead):
        """Check the batch and queue its forward and backward; ``ahead``: steps still open."""
        at = where(state, batch, ahead)
        _check_batch(net, config, batch, X, y, at, check_finite, first="graph" not in run)
        if state.seed is not None:
            mx.random.seed(_step_seed(state.seed, state.global_step + ahead))
        xs, ys = _split(X, ctxs), _split(y, ctxs)  # per device: a tuple of arrays
        if "graph" not in run:
            run["graph"] = _build_train_graph(net, loss, xs[0], ys[0], channel_pad,
                                              pool_as_mean, bn_relu) if fuse else None
        fused, outs = run["graph"], None
        try:
            with autograd.record():
                if fused is not None:
                    results = [fused(*x, *t) for x, t in zip(xs, ys)]
                    losses = [r[0] for r in results]
                else:
                    outs = [net(*x) for x in xs]
                    losses = [loss(o, *t) for o, t in zip(outs, ys)]
        except mx.base.MXNetError as exc:
            raise batch_error(exc, net, batch, X, y) from None
        if "classes" not in run:
            run.update(_targets_plan(config, loss, fused, outs, ys[0]))
        check_labels(y, run["classes"], at, config)
        _amp.backward(amp, trainer, losses)
        metrics = [r[1] for r in results] if fused is not None else None
        return {"batch": batch, "at": at, "n": _batch_size(X), "losses": losses,
                "outs": outs, "ys": ys, "metrics": metrics, "flags": None}

    def update(open_):
        cbs.on_backward_end(open_["batch"])
        if "met" not in run:
            run["met"] = meet_before_first_update(trainer)
        trainer.step(global_batch(trainer, open_["n"]))
        open_["flags"] = finite.queue() if finite is not None else None

    def finish(open_):
        """Read the step's metrics and flags back, count it, and call ``on_batch_end``."""
        if open_["metrics"] is not None:
            loss_total, hits = _read_graph_metrics(open_["metrics"], run["graph"].classify)
        else:
            loss_total, hits = _read_metrics(open_["losses"], open_["outs"], open_["ys"],
                                             run["classify"])
        n, at, flags = open_["n"], open_["at"], open_["flags"]
        check_loss(loss_total, n, at)
        if flags:  # read right after the metrics: the step has finished by then
            finite.raise_if_bad(read_flags(flags), at)
        state.loss_sum += loss_total
        state.correct = state.correct + hits if state.correct >= 0 and hits >= 0 else -1
        state.seen += n
        state.batch = open_["batch"]
        state.global_step += 1
        cbs.on_batch_end(open_["batch"], {"loss": loss_total / n})

    def step(batch, X, y):
        cbs.on_batch_begin(batch)
        this = launch(batch, X, y, 0)
        update(this)
        finish(this)

    def overlapped_step(batch, X, y):
        before = run.pop("open", None)
        try:
            this = launch(batch, X, y, 1 if before is not None else 0)
        except BaseException:
            if before is not None:
                finish(before)  # the earlier batch is finished first, as without overlap
            raise
        if before is not None:
            finish(before)
            if state.stop_training:
                return  # stopped at the earlier batch: this one's update never runs
        cbs.on_batch_begin(batch)
        update(this)
        run["open"] = this

    def flush():
        before = run.pop("open", None)
        if before is not None:
            finish(before)

    chosen = overlapped_step if overlap else step
    chosen.flush = flush
    return chosen


def _check_batch(net, config, batch, X, y, at, check_finite, first):
    """Refuse a batch that contradicts the model's config or holds NaN/Inf (before the step)."""
    check_numeric(X, y, at)
    if config is not None:
        check_inputs(config, X, batch)
        exc = probe_input_shapes(net, config, X) if first else None
        if exc is not None:
            raise batch_error(exc, net, batch, X, y) from None
    if check_finite:
        check_finite_inputs(X, y, config, at)


def _targets_plan(config, loss, fused, outs, ys):
    """Whether the step counts top-1 hits, and how many classes its labels index (or None)."""
    targets = [tuple(t.shape) for t in ys]
    if fused is not None:
        shapes, classify = fused.out_shapes, fused.classify
    else:
        out = as_tuple(outs[0])
        shapes = [tuple(o.shape) for o in out] if all(hasattr(o, "shape") for o in out) else []
        classify = is_classifier(config, shapes, targets)
    return {"classify": classify, "classes": label_classes(loss, shapes, targets, classify)}


def _batch_size(X):
    """Samples in a batch: the leading axis of its (first) input."""
    return as_tuple(X)[0].shape[0]


def _split(value, ctxs):
    """``value`` (an array or a tuple of arrays) as one tuple of slices per context."""
    from mxnet import gluon

    parts = [gluon.utils.split_and_load(v, ctxs, even_split=False) for v in as_tuple(value)]
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
        block owns no parameters: it shares ``net``'s.  With ``pad_channels``,
        narrow convolution stages run padded to oneDNN's channel block of the
        CPU (see ``_channel_pad``); with ``pool_as_mean``
        (CPUs with AVX-512), global average pooling runs as a mean (see
        ``_global_pool``); with ``bn_relu``, BatchNorm + ReLU run as one
        fused operator (see ``_bn_relu``); the values are the same.
        """

        def __init__(self, net, loss, input_shapes, classify, pad_channels=False,
                     pool_as_mean=False, bn_relu=False):
            super().__init__(prefix="train_graph_")
            self.net, self.loss = net, loss
            self.input_shapes = input_shapes  # the first batch's: inputs, then targets
            self.num_inputs, self.classify = len(input_shapes[0]), classify
            self.pad_channels, self.pool_as_mean = pad_channels, pool_as_mean
            self.bn_relu = bn_relu

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
            if F is mx.sym and (self.pad_channels or self.pool_as_mean or self.bn_relu):
                graph = mx.sym.Group([losses, metrics])
                if self.pool_as_mean:
                    graph = _global_pool.as_mean(graph)
                if self.bn_relu:
                    graph = _bn_relu.fuse(graph)
                if self.pad_channels:
                    shapes = dict(zip([a.name for a in args], sum(self.input_shapes, ())))
                    graph = _channel_pad.pad_channels(graph, shapes, _channel_pad.block())
                losses, metrics = graph[0], graph[1]
            return losses, metrics

    return TrainGraph


def _build_train_graph(net, loss, xs, ys, channel_pad=None, pool_as_mean=None, bn_relu=False):
    """A hybridized ``TrainGraph`` of ``net`` and ``loss`` for inputs ``xs``, targets ``ys``.

    None (the step calls network and loss separately, and says why in the
    ``gluon_dl.training`` log) when either is not a ``HybridBlock``, the
    network is not hybridized, an input or target is not an NDArray, or
    network and loss cannot be traced symbolically (a block that reads values
    back, say) to shapes known from the inputs'.  ``channel_pad``,
    ``pool_as_mean`` and ``bn_relu`` are :func:`fit`'s switches.
    """
    reason = _unfusable(net, loss, xs, ys)
    if reason is not None:
        log.info("fit runs the network and the loss as separate calls, not as one fused "
                 "graph: %s", reason)
        return None
    out_shapes = _output_shapes(net, loss, xs, ys)
    if out_shapes is None:
        return None
    classify = is_classifier(model_config(net), out_shapes, [tuple(y.shape) for y in ys])
    pad = _channel_pad.wanted(channel_pad, xs[0].context)
    shapes = (tuple(x.shape for x in xs), tuple(y.shape for y in ys))
    graph = _train_graph_class()(net, loss, shapes, classify, pad_channels=pad,
                                 pool_as_mean=_global_pool.wanted(pool_as_mean, xs[0].context),
                                 bn_relu=_bn_relu.wanted(bn_relu, xs[0].context))
    graph.out_shapes = out_shapes
    graph.hybridize(static_alloc=True, static_shape=True)
    return graph


def _unfusable(net, loss, xs, ys):
    """Why ``net`` and ``loss`` cannot run as one graph, judged without tracing; else None."""
    import mxnet as mx
    from mxnet import gluon

    if not isinstance(net, gluon.HybridBlock):
        return f"the network is a {type(net).__name__}, not a HybridBlock"
    if not isinstance(loss, gluon.HybridBlock):
        return f"the loss is a {type(loss).__name__}, not a HybridBlock"
    if not getattr(net, "_active", False):
        return "the network is not hybridized (fit(..., hybridize=True) does it)"
    if not all(isinstance(a, mx.nd.NDArray) for a in xs + ys):
        return "the batch holds arrays that are not NDArrays"
    return None


def _output_shapes(net, loss, xs, ys):
    """Shapes of ``net(*xs)``'s outputs, if network and loss trace symbolically; else None."""
    import mxnet as mx

    names = [f"data{i}" for i in range(len(xs))]
    try:
        sym = net(*[mx.sym.var(n) for n in names])
        loss(sym, *[mx.sym.var(f"label{i}") for i in range(len(ys))])
        if isinstance(sym, (tuple, list)):
            sym = mx.sym.Group(list(sym))
        if not isinstance(sym, mx.sym.Symbol):
            log.info("fit runs the network and the loss as separate calls, not as one fused "
                     "graph: the network returns %s, not symbols", type(sym).__name__)
            return None
        _, out_shapes, _ = sym.infer_shape_partial(**{n: x.shape for n, x in zip(names, xs)})
    except Exception as exc:  # noqa: BLE001 - any block that can't be traced runs unfused
        reason = next((line for line in str(exc).splitlines() if line.strip()),
                      type(exc).__name__)
        log.warning("fit runs the network and the loss as separate calls, not as one fused "
                    "graph: they cannot be traced symbolically (%s: %s); training works, "
                    "only slower", type(exc).__name__, reason.strip())
        return None
    if not out_shapes or any(not s for s in out_shapes):
        log.info("fit runs the network and the loss as separate calls, not as one fused "
                 "graph: the shapes of the outputs cannot be inferred from the inputs'")
        return None
    return [tuple(s) for s in out_shapes]


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


def _read_metrics(losses, outs, ys, classify):
    """Loss sum and top-1 hits of one step, read back in a single device sync.

    Every read from the device waits for the step to finish; one read per step
    instead of one per metric and device keeps small networks' steps short.
    Hits are -1 unless ``classify``.  ``ys`` holds one tuple of targets per
    device.
    """
    import mxnet as mx

    parts = [l.sum().astype("float64") for l in losses]
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
        raise ArgumentError(f"resume_from continues epoch {epoch + 1} at batch {start}, which "
                            f"needs a loader with batches(epoch, start) (e.g. gluon_dl.data."
                            f"ArrayLoader) to reproduce the data order; "
                            f"{type(train_iter).__name__} has none")
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
    """Mean loss (``val_loss``) and, for classifiers, top-1 accuracy (``val_acc``).

    Batches are ``(X, y)`` as in :func:`fit`; the network runs in inference
    mode (no dropout, BatchNorm's running statistics).  A classifier is a
    model whose ``config.task`` is ``"classification"``, or a plain block
    that outputs scores ``(N, classes)`` for labels ``(N,)``.
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
        task = getattr(model_config(net), "task", None)
        what = f"a {task} model" if task else "outputs that are not class scores"
        raise ArgumentError(f"evaluate_accuracy needs a classifier's class scores (N, classes) "
                            f"and labels (N,), not {what}; use validate(net, data, loss) "
                            f"for other outputs")
    return correct / max(seen, 1)


def _evaluate(net, data_iter, ctx, loss=None):
    """Loss sum (0 without ``loss``), top-1 hits (None unless a classifier) and samples."""
    import mxnet as mx

    ctx, config = as_contexts(ctx)[0], model_config(net)
    total, correct, seen = 0.0, 0, 0
    for X, y in data_iter:
        out = net(*_on(X, ctx))
        ys = _on(y, ctx)
        if loss is not None:
            total += float(loss(out, *ys).sum().asscalar())
        if correct is not None and isinstance(out, mx.nd.NDArray) \
                and is_classifier(config, [out.shape], [y.shape for y in ys]):
            correct += int((out.argmax(axis=1).astype("int64") ==
                            ys[0].astype("int64")).sum().asscalar())
        else:
            correct = None
        seen += _batch_size(X)
    if not seen:  # an accuracy or loss of nothing would read as a result
        raise DataError("the evaluation data yielded no samples; pass a non-empty loader "
                        "(a used-up generator yields nothing the second time)")
    return total, correct, seen


def _on(X, ctx):
    """The input (or tuple of inputs) ``X`` on ``ctx``, as a tuple of NDArrays."""
    import mxnet as mx

    return tuple(x.as_in_context(ctx) if isinstance(x, mx.nd.NDArray) else mx.nd.array(x, ctx=ctx)
                 for x in as_tuple(X))
