"""What ``fit`` refuses: bad arguments, batches that contradict the model, non-finite numbers.

Arguments are checked before anything is built.  Each batch is checked
against the model's :class:`~gluon_dl.models.ModelConfig` (number, rank and
dtype of the inputs; on the first batch, whether the weights the config's
input shape implies take the batch at all) and, for class indices, against
the output's class count.

Non-finite numbers are caught where they enter: inputs and targets on the
host before the step (so a bad batch never reaches the weights), the loss,
the gradients and the updated parameters on the device.  The device checks
add one ``multi_sum_sq`` per device and dtype after the update, whose
per-array sums of squares (a few hundred bytes) are read right after the
step's metrics; only when one is not finite are the arrays searched for the
culprit.  A sum of squares overflows for values beyond ~1e19, so the search
confirms each hit on the exact values and lets such a false alarm pass.
"""
import logging
import math
import numbers
from collections.abc import Mapping

import numpy as np

from ..errors import (ArgumentError, DataError, InputShapeError, NonFiniteError,
                      UnknownNameError, mxnet_reason)
from ..utils.registry import unknown_name

log = logging.getLogger("gluon_dl.training")


# ---------------------------------------------------------------- arguments

def check_arguments(num_epochs, lr, optimizer_params, check_finite, channel_pad, overlap=None):
    """Refuse ``fit`` arguments that cannot train (before anything is built)."""
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, numbers.Integral) \
            or num_epochs < 0:
        raise ArgumentError(f"num_epochs must be a whole number >= 0, got {num_epochs!r}")
    _check_rate("lr", lr)
    if optimizer_params is not None and not isinstance(optimizer_params, Mapping):
        raise ArgumentError(f"optimizer_params must be a dict such as {{'momentum': 0.9}}, "
                            f"got {type(optimizer_params).__name__}")
    if "learning_rate" in (optimizer_params or {}):
        _check_rate("optimizer_params['learning_rate']", optimizer_params["learning_rate"])
    if not isinstance(check_finite, bool):
        raise ArgumentError(f"check_finite must be True or False, got {check_finite!r}")
    for name, value in (("channel_pad", channel_pad), ("overlap", overlap)):
        if value is not None and not isinstance(value, bool):
            raise ArgumentError(f"{name} must be None (automatic), True or False, "
                                f"got {value!r}")


KVSTORES = ("local", "device", "nccl", "dist_sync", "dist_device_sync", "dist_async",
            "dist_sync_device", "dist_async_device", "horovod")


def check_components(loss, optimizer, kvstore, callbacks):
    """Refuse a loss, optimizer, KVStore or callback list that ``fit`` cannot use.

    ``optimizer`` is None when the caller brings its own trainer.
    """
    import mxnet as mx

    from .callbacks import Callback

    if loss is not None and not callable(loss):
        raise ArgumentError(f"loss must be callable as loss(output, *targets), e.g. "
                            f"gluon.loss.L2Loss(), got {loss!r}")
    if isinstance(optimizer, str):  # None: the caller brought a trainer
        known = sorted(mx.optimizer.Optimizer.opt_registry)
        if optimizer.lower() not in known:
            raise unknown_name("optimizer", optimizer, known, f"MXNet has {', '.join(known)}")
    elif optimizer is not None and not isinstance(optimizer, mx.optimizer.Optimizer):
        raise ArgumentError(f"optimizer must be a name such as 'adam' or an "
                            f"mxnet.optimizer.Optimizer, got {optimizer!r}")
    if isinstance(kvstore, str) and kvstore not in KVSTORES:
        raise UnknownNameError(f"unknown kvstore '{kvstore}'; use one of {', '.join(KVSTORES)}, "
                               f"a KVStore, or None")
    if callbacks is not None and (isinstance(callbacks, (str, bytes, Mapping)) or
                                  not all(isinstance(c, Callback) for c in _iterable(callbacks))):
        raise ArgumentError(f"callbacks must be a list of gluon_dl.training.Callback "
                            f"objects, got {callbacks!r}")


def _iterable(value):
    try:
        return list(value)
    except TypeError:
        return [value]


def check_gpus(ctxs):
    """Refuse GPU contexts on a build or machine without that many GPUs."""
    from ..devices import num_gpus

    wanted = [c for c in ctxs if c.device_type == "gpu"]
    if not wanted:
        return
    available = num_gpus()
    missing = [c for c in wanted if c.device_id >= available]
    if missing:
        raise ArgumentError(f"ctx asks for {missing[0]}, but this MXNet sees {available} "
                            f"GPU(s); install the 'gpu' extra (mxnet-cu112) on a machine with "
                            f"a GPU, or train on mx.cpu()")


def _check_rate(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value <= 0:
        raise ArgumentError(f"{name} must be a positive finite number, got {value!r}; "
                            f"e.g. 1e-3 for Adam or 0.1 for SGD")


def check_contexts(ctxs):
    """Refuse an empty context list or one holding something else than contexts."""
    import mxnet as mx

    if not ctxs:
        raise ArgumentError("ctx is an empty list; pass e.g. ctx=[mx.cpu(0), mx.cpu(1)], "
                            "or leave it out to train on the CPU")
    bad = [c for c in ctxs if not isinstance(c, mx.Context)]
    if bad:
        raise ArgumentError(f"ctx holds {bad[0]!r}, which is not an MXNet context; pass "
                            f"e.g. ctx=mx.gpu(0) or ctx=[mx.cpu(0), mx.cpu(1)]")


def empty_epoch_error(epoch):
    """The error for an epoch whose ``train_iter`` yielded no batch."""
    hint = ("a generator is used up after one pass: pass a list of batches or a loader "
            "such as gluon_dl.data.ArrayLoader" if epoch > 0 else
            "check that the data set is not empty (and not smaller than one batch with "
            "last_batch='discard')")
    return DataError(f"train_iter yielded no batches in epoch {epoch + 1}; {hint}")


def unpack_batch(item, batch):
    """``(X, y)`` of one item of ``train_iter``, or a clear error."""
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item
    kind = f"a {len(item)}-tuple" if isinstance(item, (tuple, list)) else type(item).__name__
    raise DataError(f"train_iter must yield (X, y) pairs, batch {batch} is {kind}; put "
                    f"several inputs or targets in a tuple: ((x1, x2), y)")


# ---------------------------------------------------------------- the task

def as_tuple(value):
    """A batch's input or target (an array, or a tuple of arrays) as a tuple."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def model_config(net):
    """``net.config`` when it is a model config (registered models), else None."""
    config = getattr(net, "config", None)
    return config if hasattr(config, "inputs") and hasattr(config, "task") else None


def is_classifier(config, out_shapes, target_shapes):
    """Whether top-1 accuracy applies: class scores ``(N, classes)`` against labels ``(N,)``.

    A model with a config says so through ``config.task``; a plain block is
    taken for a classifier when its shapes fit and it scores several classes.
    """
    if len(out_shapes) != 1 or len(target_shapes) != 1:
        return False
    if len(out_shapes[0]) != 2 or len(target_shapes[0]) != 1:
        return False
    if config is not None:
        return config.task == "classification"
    return out_shapes[0][1] > 1


def label_classes(loss, out_shapes, target_shapes, classify):
    """The number of classes the first target indexes, or None when it holds no class ids.

    Class ids are the labels of a classifier, and the sparse labels of a
    softmax cross-entropy (a language model's next tokens, say).
    """
    from mxnet import gluon

    if len(out_shapes) != 1 or not target_shapes:
        return None
    out = out_shapes[0]
    if classify:
        return out[1]
    if isinstance(loss, gluon.loss.SoftmaxCrossEntropyLoss) and loss._sparse_label \
            and len(target_shapes[0]) == len(out) - 1:
        return out[loss._axis]
    return None


def check_numeric(X, y, at):
    """Refuse inputs or targets that are not arrays of numbers (strings, objects, complex)."""
    for kind, values in (("input", X), ("target", y)):
        for i, a in enumerate(as_tuple(values)):
            dtype = getattr(a, "dtype", None)
            if dtype is None:
                dtype = np.asarray(a).dtype
            dtype = np.dtype(dtype)
            if dtype.kind not in "biuf":
                raise DataError(f"{kind} {i} of {at} is an array of {dtype} ({dtype.kind!r}); "
                                f"fit takes numbers: convert the loader's {kind}s to float32 "
                                f"(or integer class ids)")


def check_labels(y, classes, at, config=None):
    """Refuse class labels (the first target) that are not integers in ``[0, classes)``."""
    if not classes or classes <= 0:
        return
    labels = _host(as_tuple(y)[0])
    if labels.size == 0:
        return
    low, high = labels.min(), labels.max()
    bad = low if not low >= 0 else high if not high < classes else None
    if bad is None and labels.dtype.kind == "f" and np.any(labels != np.floor(labels)):
        bad = labels[labels != np.floor(labels)].flat[0]
    if bad is None:
        return
    model, fix = ((f" of model '{config.name}'", "build the model with num_classes set to "
                   "the number of classes") if config is not None
                  else ("", "give the output layer one unit per class"))
    raise DataError(f"the labels of {at} include {_number(bad)}, outside the class "
                    f"ids 0..{classes - 1} of the {classes} classes{model}; check the "
                    f"loader's labels, or {fix}")


def _number(value):
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


# ---------------------------------------------------------------- the inputs

def check_inputs(config, X, batch):
    """Refuse inputs whose number, rank or dtype contradicts ``config.inputs``."""
    xs, specs = as_tuple(X), config.inputs
    if len(xs) != len(specs):
        raise InputShapeError(
            f"training batch {batch} has {len(xs)} input(s) but model '{config.name}' takes "
            f"{len(specs)} ({', '.join(s.name for s in specs)}); pass X as a tuple in that "
            f"order")
    for i, (x, spec) in enumerate(zip(xs, specs)):
        wanted = ("N",) + tuple(spec.shape)
        if len(x.shape) != len(wanted):
            raise InputShapeError(
                f"input {i} ('{spec.name}') of training batch {batch} has shape "
                f"{tuple(x.shape)} but model '{config.name}' takes {wanted}; reshape it "
                f"(gluon_dl.data.to_model_input brings images to the model's input)")
        if np.dtype(spec.dtype).kind == "f" and np.dtype(x.dtype).kind in "biu":
            raise InputShapeError(
                f"input {i} ('{spec.name}') of training batch {batch} is {np.dtype(x.dtype)} "
                f"but model '{config.name}' takes {spec.dtype}; convert it (gluon_dl.data."
                f"to_model_input scales images to the model's range)")


def probe_input_shapes(net, config, X):
    """The MXNet error the network raises on ``X`` with the weights its config implies.

    None when ``X`` has the config's shapes (or ``test_input_shape``), when it
    fits, or when the network cannot be traced symbolically.  Run on the first
    batch: a network whose weights wait for their shapes would otherwise
    size them to any input, even one the config rules out.
    """
    import mxnet as mx
    from mxnet import gluon

    shapes = [tuple(x.shape[1:]) for x in as_tuple(X)]
    implied = [tuple(s.shape) for s in config.inputs]
    if config.test_input_shape is not None and shapes[0] == tuple(config.test_input_shape):
        implied[0] = tuple(config.test_input_shape)
    if shapes == implied or not isinstance(net, gluon.HybridBlock):
        return None
    names = config.input_names
    try:
        sym = net(*[mx.sym.var(n) for n in names])
        sym = mx.sym.Group(list(sym)) if isinstance(sym, (tuple, list)) else sym
        arg_shapes, _, _ = sym.infer_shape_partial(
            **{n: (1,) + s for n, s in zip(names, implied)})
    except Exception as exc:  # noqa: BLE001 - an untraceable network is checked by its run
        log.debug("input shapes not checked against the config: %s", exc)
        return None
    weights = {n: tuple(s) for n, s in zip(sym.list_arguments(), arg_shapes)
               if n not in names and s and all(s)}
    try:
        sym.infer_shape_partial(**{n: (1,) + s for n, s in zip(names, shapes)}, **weights)
    except mx.base.MXNetError as exc:
        return exc
    return None


def batch_error(exc, net, batch, X, y):
    """One clear error for a batch the network or loss rejects (shapes, dtypes...)."""
    reason = mxnet_reason(exc)
    shapes = ", ".join(str(tuple(a.shape)) for a in as_tuple(X))
    targets = ", ".join(str(tuple(a.shape)) for a in as_tuple(y))
    config = model_config(net)
    expected = ""
    if config is not None:
        wanted = ", ".join(str(("N",) + tuple(spec.shape)) for spec in config.inputs)
        expected = f"; model '{config.name}' takes {wanted}"
    return InputShapeError(f"training batch {batch} does not fit the network or the loss: "
                           f"{reason}. Inputs {shapes}, targets {targets}{expected}; check "
                           f"the loader's shapes (and layout) against the model's input")


# ---------------------------------------------------------------- non-finite numbers

def where(state, batch, ahead=0):
    """The step being run, as messages name it (epochs 1-based, steps counted).

    ``ahead``: steps queued before this one and not yet counted in ``state``.
    """
    return (f"epoch {state.epoch + 1}, batch {batch} "
            f"(global step {state.global_step + 1 + ahead})")


def check_finite_inputs(X, y, config, at):
    """Refuse NaN or Inf in the float inputs and targets, before the step uses them."""
    names = config.input_names if config is not None else []
    for kind, arrays in (("input", as_tuple(X)), ("target", as_tuple(y))):
        for i, a in enumerate(arrays):
            if np.dtype(a.dtype).kind != "f":
                continue
            values = _host(a)
            if _all_finite(values):
                continue
            name = f" ('{names[i]}')" if kind == "input" and i < len(names) else ""
            raise NonFiniteError(
                f"{kind} {i}{name} of {at} holds {_census(values)}; the run stopped before "
                f"this batch's update: drop or repair those samples (e.g. numpy.nan_to_num)")


def check_loss(loss_total, n, at):
    if not math.isfinite(loss_total):
        raise NonFiniteError(f"loss became {loss_total / max(n, 1)} at {at}; lower the "
                             f"learning rate or clip gradients (GradientClipping)")


class ParameterCheck:
    """Sums of squares of a network's gradients and parameters, queued on the device.

    :meth:`queue` returns one flag vector per device and dtype (no sync);
    :meth:`raise_if_bad` takes their values and names the first gradient,
    else the first parameter, whose values are not finite.  Run after the
    update: the update reads the gradients and leaves them non-finite where
    they were (a KVStore's sum too), and the parameters are then the new ones.
    """

    HINTS = {
        "gradient": "the update with it is applied, restore the weights from a checkpoint; "
                    "lower the learning rate, clip gradients (GradientClipping) or look for "
                    "log(0) or a division by zero in the network or the loss",
        "parameter": "restore the weights from a checkpoint and lower the learning rate "
                     "(or clip gradients with GradientClipping)",
    }

    def __init__(self, net, gradients=True):
        named = {id(p): name for name, p in net._collect_params_with_prefix().items()}
        self.params = [(named.get(id(p), p.name), p) for p in net.collect_params().values()]
        self.gradients = gradients
        self._source = ()  # the parameters' array lists the groups were built from
        self._groups, self.entries = [], []

    def _arrays(self):
        """``(kind, name, array)`` of every gradient (if checked), then every parameter."""
        found = []
        for kind in ("gradient", "parameter") if self.gradients else ("parameter",):
            for name, p in self.params:
                if p._data is None or p._stype != "default":
                    continue
                if kind == "gradient" and (p.grad_req == "null"
                                           or p._grad_stype != "default"):
                    continue
                arrays = p.list_grad() if kind == "gradient" else p.list_data()
                found.extend((kind, name, a) for a in arrays if a.size)
        return found

    def _regroup(self):
        """Group the arrays by device and dtype, again only when a parameter's arrays changed."""
        source = tuple(x for _, p in self.params for x in (p._data, p._grad))
        if len(source) == len(self._source) and all(a is b for a, b in zip(source, self._source)):
            return
        groups = {}
        for entry in self._arrays():
            array = entry[2]
            groups.setdefault((array.context, np.dtype(array.dtype)), []).append(entry)
        self._source = source
        self._groups = [[e[2] for e in group] for group in groups.values()]
        self.entries = [e for group in groups.values() for e in group]

    def queue(self):
        """Per-array sums of squares, one vector per device and dtype, on their devices."""
        import mxnet as mx

        self._regroup()
        return [mx.nd.multi_sum_sq(*arrays, num_arrays=len(arrays)) for arrays in self._groups]

    def raise_if_bad(self, values, at):
        """Raise naming the first array whose flag and exact values are not finite."""
        bad = sorted(np.flatnonzero(~np.isfinite(values)),
                     key=lambda i: (self.entries[i][0] != "gradient", i))
        for i in bad:
            kind, name, array = self.entries[i]
            exact = array.asnumpy()
            if not np.isfinite(exact).all():
                raise NonFiniteError(f"{kind} of '{name}' holds {_census(exact)} after {at}; "
                                     f"{self.HINTS[kind]}")


def read_flags(flags):
    """The values of the flag vectors, in order, in one transfer to the host."""
    import mxnet as mx

    if len(flags) == 1:
        return flags[0].asnumpy()
    cpu = mx.cpu()
    return mx.nd.concat(*[f.as_in_context(cpu) for f in flags], dim=0).asnumpy()


def _host(a):
    return a.asnumpy() if hasattr(a, "asnumpy") else np.asarray(a)


def _all_finite(values):
    # float64 accumulation cannot overflow on float32 data; float64 data that
    # overflows its sum gets the exact test.
    return math.isfinite(values.sum(dtype=np.float64)) or bool(np.isfinite(values).all())


def _census(values):
    nan, inf = int(np.isnan(values).sum()), int(np.isinf(values).sum())
    return f"{nan} NaN and {inf} Inf values (of {values.size})"
