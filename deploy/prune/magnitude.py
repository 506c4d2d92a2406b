"""Unstructured magnitude pruning of a Gluon block.

The smallest-magnitude weights of every prunable parameter (see
:mod:`deploy.prune.registry`) are set to zero and kept at zero through
fine-tuning by a binary mask (Han et al. 2015; Zhu & Gupta 2017).  A
schedule (:mod:`deploy.prune.schedules`) says when to recompute the masks
and to which sparsity.  Typical fine-tuning loop::

    pruner = MagnitudePruner(net, PolynomialDecay(0.0, 0.8, 0, 1000))
    for step, (X, y) in enumerate(train_iter):
        pruner.update(step)
        with autograd.record():
            loss = loss_fn(net(X), y)
        loss.backward()
        trainer.step(X.shape[0])
        pruner.apply_masks()        # pruned weights stay exactly zero
    pruner.strip()
"""
import collections
import collections.abc
import fnmatch
import math

import mxnet as mx
import numpy as np
from mxnet.gluon.parameter import DeferredInitializationError

from gluon_dl.errors import ArgumentError, ArgumentTypeError, InputShapeError, NonFiniteError

from .registry import named_prunable_parameters
from .schedules import OneShot

GRANULARITIES = ("layer", "global")

_Weight = collections.namedtuple("_Weight", "key layer name param")
_Group = collections.namedtuple("_Group", "pattern schedule weights")


def _num_pruned(sparsity, size):
    """``floor(sparsity * size)``, robust to float error (0.29 * 100 is 28.999...)."""
    return int(math.floor(round(sparsity * size, 6)))


def _exact_mask(magnitude, k):
    """Flat 0/1 mask with exactly ``k`` zeros, on the ``k`` smallest magnitudes.

    Among equal magnitudes the lower flat index is pruned first, so the result
    is deterministic on every device.  The k-th smallest value is found by
    ``numpy.partition`` on the host, in linear time: MXNet's ``topk`` sorts
    and took seconds per ResNet-50 layer on a CPU.
    """
    if k == 0:
        return mx.nd.ones_like(magnitude)
    values = magnitude.asnumpy()
    kth = np.partition(values, k - 1)[k - 1]
    keep = values > kth
    tied = np.flatnonzero(values == kth)
    quota = k - int(np.count_nonzero(values < kth))  # tied entries still to prune
    keep[tied[quota:]] = True
    return mx.nd.array(keep, ctx=magnitude.context, dtype=magnitude.dtype)


def _check_finite(magnitude, what):
    if mx.nd.contrib.isfinite(magnitude).min().asscalar() == 0:
        raise NonFiniteError(f"{what} contains NaN or inf, so no magnitude order exists; "
                         f"training has diverged: lower the learning rate or reload a checkpoint")


def _check_initialized(weight):
    where = f"prunable parameter '{weight.key}' ({weight.param.name})"
    try:
        weight.param.list_data()
    except DeferredInitializationError as err:
        raise ArgumentError(f"{where} is not initialized yet (deferred initialization): run one "
                         f"forward pass, net(x), before building the pruner") from err
    except RuntimeError as err:
        raise ArgumentError(f"{where} is not initialized: call net.initialize() and run one "
                         f"forward pass, net(x), before building the pruner") from err


def _select(weights, exclude):
    if exclude is None:
        return weights
    patterns = [exclude] if isinstance(exclude, str) else list(exclude)
    hits = {p: [w for w in weights if _matches(w, p)] for p in patterns}
    unused = [p for p, matched in hits.items() if not matched]
    if unused:
        raise ArgumentError(f"exclude patterns {unused} match no prunable weight; "
                         f"the prunable weights are {[w.key for w in weights]}")
    excluded = {id(w) for matched in hits.values() for w in matched}
    return [w for w in weights if id(w) not in excluded]


def _matches(weight, pattern):
    return fnmatch.fnmatchcase(weight.layer, pattern) or fnmatch.fnmatchcase(weight.key, pattern)


def _check_schedule(schedule, where=""):
    if not callable(schedule):
        raise ArgumentTypeError(f"schedule{where} must be callable as schedule(step) -> "
                                f"(should_prune, sparsity), got {type(schedule).__name__}")


def _group_by_schedule(weights, schedule):
    """One group per schedule: every weight goes to the first pattern that matches it."""
    if not isinstance(schedule, collections.abc.Mapping):
        _check_schedule(schedule)
        return [_Group(None, schedule, weights)]
    if not schedule:
        raise ArgumentError("schedule is an empty dict; map layer patterns to schedules, "
                            "e.g. {'features.0': OneShot(0.3), '*': PolynomialDecay(...)}")
    for pattern, sched in schedule.items():
        if not isinstance(pattern, str):
            raise ArgumentTypeError(f"schedule dict keys are shell-style patterns of layer "
                                    f"paths, got {type(pattern).__name__} {pattern!r}")
        _check_schedule(sched, f" for '{pattern}'")
    members = {pattern: [] for pattern in schedule}
    for weight in weights:
        pattern = next((p for p in schedule if _matches(weight, p)), None)
        if pattern is not None:
            members[pattern].append(weight)
    unused = [p for p, matched in members.items() if not matched]
    if unused:
        raise ArgumentError(f"schedule patterns {unused} match no prunable weight (or only "
                            f"weights an earlier pattern took); the prunable weights are "
                            f"{[w.key for w in weights]}")
    return [_Group(p, schedule[p], members[p]) for p in schedule]


def _gather_weights(net, exclude):
    weights = [_Weight(f"{layer}.{name}" if layer else name, layer, name, param)
               for layer, name, param in named_prunable_parameters(net)]
    weights = _select(weights, exclude)
    if not weights:
        raise ArgumentError(f"{type(net).__name__} has no prunable weights left (exclude="
                         f"{exclude!r}): use layers listed in deploy.prune.registry."
                         f"PRUNABLE_WEIGHTS or define get_prunable_weights() on custom blocks")
    for weight in weights:
        _check_initialized(weight)
    return weights


class MagnitudePruner:
    """Keep the largest-magnitude weights of a Gluon block, zero the rest.

    Parameters
    ----------
    net : mxnet.gluon.Block
        Initialized network; a block with deferred initialization must have
        run one forward pass.
    schedule : callable or dict
        ``schedule(step) -> (should_prune, sparsity)``, usually a
        :class:`deploy.prune.schedules.PruningSchedule`; or a dict
        ``{pattern: schedule}`` that gives layers schedules of their own
        (a first convolution or a classifier pruned less than the wide
        layers between them): each weight follows the first pattern that
        matches its layer path or key, ``"*"`` last catches the rest, and
        weights that no pattern matches stay dense.
    granularity : {"layer", "global"}
        ``"layer"`` zeros ``floor(sparsity * size)`` weights in every
        parameter; ``"global"`` ranks the weights that share a schedule
        together and zeros ``floor(sparsity * total)`` of them, so those
        layers end up with unequal sparsity.
    exclude : str or list of str, optional
        Shell-style patterns matched against layer paths (``"output"``) and
        weight keys (``"features.0.weight"``); matches are left dense.

    Notes
    -----
    Call :meth:`apply_masks` after every ``trainer.step``: the optimizer
    (momentum, weight decay) moves pruned weights away from zero.  With
    several devices and ``update_on_kvstore`` the KVStore's own copy of a
    pruned weight keeps moving, but the network always sees it masked.
    """

    def __init__(self, net, schedule, granularity="layer", exclude=None):
        if granularity not in GRANULARITIES:
            raise ArgumentError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
        self.net = net
        self.schedule = schedule
        self.granularity = granularity
        weights = _gather_weights(net, exclude)
        self._groups = _group_by_schedule(weights, schedule)
        self._weights = [w for group in self._groups for w in group.weights]
        self._masks = {}  # key -> {context: 0/1 NDArray shaped like the weight}
        self.step = None
        self.sparsity = None

    @property
    def keys(self):
        """Keys (``"features.0.weight"``) of the weights this pruner masks, in order."""
        return [w.key for w in self._weights]

    def update(self, step):
        """Recompute and apply the masks of every schedule that prunes at ``step``.

        Returns
        -------
        bool
            Whether any mask was recomputed.
        """
        pruned = False
        for group in self._groups:
            should_prune, sparsity = group.schedule(step)
            if not should_prune:
                continue
            if not 0.0 <= sparsity < 1.0:
                raise ArgumentError(f"schedule {group.schedule!r} returned sparsity {sparsity} "
                                    f"at step {step}; it must lie in [0, 1)")
            masks = self._compute_masks(group.weights, float(sparsity))
            self._masks.update({key: {mask.context: mask} for key, mask in masks.items()})
            self._set_sparsity(group.pattern, float(sparsity))
            pruned = True
        self.step = step
        if pruned:
            self.apply_masks()
        return pruned

    def _set_sparsity(self, pattern, sparsity):
        # One schedule: the float it returned last; a dict of schedules: pattern -> float.
        if pattern is None:
            self.sparsity = sparsity
        else:
            self.sparsity = dict(self.sparsity or {}, **{pattern: sparsity})

    def resume(self, step):
        """Masks as a run that reached ``step`` has them, from the weights it saved.

        For a run restored from a checkpoint between pruning steps: every
        schedule's masks are recomputed at its last pruning step up to
        ``step``, in order, so the saved zeros are picked again (ties go to
        the lower index) and the schedule continues where it was.
        """
        last = {self._last_pruning_step(group.schedule, step) for group in self._groups}
        for earlier in sorted(s for s in last if s is not None and s < step):
            self.update(earlier)
        self.update(step)

    @staticmethod
    def _last_pruning_step(schedule, step):
        for earlier in range(step, -1, -1):
            if schedule(earlier)[0]:
                return earlier
        return None

    def _compute_masks(self, weights, sparsity):
        if self.granularity == "layer":
            return {w.key: self._layer_mask(w, sparsity) for w in weights}
        return self._global_masks(weights, sparsity)

    @staticmethod
    def _layer_mask(weight, sparsity):
        data = weight.param.list_data()[0]
        magnitude = data.abs().reshape(-1)
        _check_finite(magnitude, f"weight '{weight.key}'")
        return _exact_mask(magnitude, _num_pruned(sparsity, data.size)).reshape(data.shape)

    def _global_masks(self, weights, sparsity):
        datas = [w.param.list_data()[0] for w in weights]
        ctx = datas[0].context
        magnitude = mx.nd.concat(*[d.abs().reshape(-1).as_in_context(ctx) for d in datas], dim=0)
        _check_finite(magnitude, "the prunable weights")
        flat = _exact_mask(magnitude, _num_pruned(sparsity, magnitude.size))
        masks, offset = {}, 0
        for weight, data in zip(weights, datas):
            part = flat.slice_axis(axis=0, begin=offset, end=offset + data.size)
            masks[weight.key] = part.reshape(data.shape).as_in_context(data.context)
            offset += data.size
        return masks

    def _set_masks(self, masks):
        self._masks = {key: {mask.context: mask} for key, mask in masks.items()}

    def _mask_on(self, key, ctx):
        copies = self._masks[key]
        if ctx not in copies:  # a parameter initialized on several devices
            copies[ctx] = next(iter(copies.values())).as_in_context(ctx)
        return copies[ctx]

    def apply_masks(self):
        """Multiply every masked weight, on every device, by its mask (in place)."""
        for weight in self._weights:
            if weight.key not in self._masks:
                continue
            for data in weight.param.list_data():
                data *= self._mask_on(weight.key, data.context)

    def strip(self):
        """Make pruning permanent: zero the pruned weights and drop the masks.

        The network keeps its parameters and can be exported as is; the
        pruner can prune again later through :meth:`update`.

        Returns
        -------
        mxnet.gluon.Block
            The pruned network.
        """
        self.apply_masks()
        self._masks = {}
        return self.net

    remove_masks = strip

    def sparsity_report(self):
        """Zeros per prunable weight, counted in the weights themselves.

        Returns
        -------
        list of dict
            One dict per weight with keys ``layer``, ``param``, ``shape``,
            ``size``, ``zeros`` and ``sparsity`` (fraction of zeros).
        """
        report = []
        for weight in self._weights:
            data = weight.param.list_data()[0]
            zeros = int((data == 0).sum().asscalar())
            report.append({"layer": weight.layer, "param": weight.name,
                           "shape": tuple(data.shape), "size": int(data.size),
                           "zeros": zeros, "sparsity": zeros / data.size})
        return report

    def overall_sparsity(self):
        """Fraction of zeros over all weights this pruner manages."""
        report = self.sparsity_report()
        return sum(r["zeros"] for r in report) / sum(r["size"] for r in report)

    def state_dict(self):
        """Pruning state for resuming: last step, last sparsity, masks as numpy arrays."""
        masks = {key: next(iter(copies.values())).asnumpy()
                 for key, copies in self._masks.items()}
        return {"step": self.step, "sparsity": self.sparsity, "masks": masks}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict` output and apply the masks to the weights.

        Raises
        ------
        ValueError
            If ``state`` lacks a key, names weights this pruner does not manage
            or misses some, or holds a mask that is not 0/1.
        gluon_dl.errors.InputShapeError
            If a mask's shape differs from its weight's.
        """
        missing = {"step", "sparsity", "masks"} - set(state)
        if missing:
            raise ArgumentError(f"pruner state lacks {sorted(missing)}; pass the dict that "
                             f"MagnitudePruner.state_dict() returned")
        masks = state["masks"]
        if masks and set(masks) != set(self.keys):
            raise ArgumentError(f"pruner state masks {sorted(masks)} do not match this "
                             f"network's prunable weights {self.keys}")
        self._set_masks({w.key: self._mask_from_numpy(w, masks[w.key])
                         for w in self._weights if w.key in masks})
        self.step, self.sparsity = state["step"], state["sparsity"]
        self.apply_masks()

    @staticmethod
    def _mask_from_numpy(weight, array):
        array = np.asarray(array)
        data = weight.param.list_data()[0]
        if array.shape != data.shape:
            raise InputShapeError(f"mask for '{weight.key}' has shape {array.shape}, but the "
                                  f"weight has shape {data.shape}")
        if not np.isin(array, (0, 1)).all():
            raise ArgumentError(f"mask for '{weight.key}' holds values other than 0 and 1")
        return mx.nd.array(array, ctx=data.context, dtype=data.dtype)


def prune_to_sparsity(net, sparsity, granularity="layer", exclude=None):
    """Prune ``net`` once, now, to ``sparsity``.

    Parameters
    ----------
    net : mxnet.gluon.Block
        Initialized network (one forward pass done if initialization is deferred).
    sparsity : float
        Fraction of zeros in [0, 1), per weight or overall (see ``granularity``).
    granularity, exclude
        As in :class:`MagnitudePruner`.

    Returns
    -------
    MagnitudePruner
        Holds the masks: call its ``apply_masks()`` after each step when
        fine-tuning, and ``strip()`` when done.
    """
    pruner = MagnitudePruner(net, OneShot(sparsity, step=0), granularity, exclude)
    pruner.update(0)
    return pruner
