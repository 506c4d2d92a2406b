"""Structured (channel) pruning: remove whole filters and rewire what reads them.

Filters are ranked by the L1 norm of their weights (Li et al. 2017,
"Pruning Filters for Efficient ConvNets") and the smallest are removed from
the network, not zeroed: the convolution or dense layer gets fewer output
channels, and everything that reads them is sliced to match -- BatchNorm
(gamma, beta, running mean and variance), depthwise convolutions, the next
convolution or dense layer (its input channels; after a ``Flatten`` each
channel's ``H*W`` input columns), and concatenations (DenseNet, GoogLeNet:
each input's channels keep their place in the concatenated range).

Channels that an element-wise sum or product joins -- a residual stream --
form one group and are pruned jointly: each channel of the group is ranked
by the sum of the L1 norms of the filters that produce it (every
convolution that writes into the stream), and the same indices are removed
from all of them, so the additions stay aligned.  As in the paper, a
filter's rank ignores the BatchNorm that follows it (its scale is learned
anew while fine-tuning).  Channels that reach the
network's output (a classifier's classes) or pass through an operator that
moves channels around (reshape, transpose, recurrent layers, grouped
convolutions, ...) are kept; the report says why.  The graph is derived
from MXNet's symbol of the network, so no architecture needs a rule of its
own (see :mod:`deploy.prune._channels`).

The result is a new :class:`ChannelPrunedNet`, a ``gluon.SymbolBlock``
that trains with ``fit``, hybridizes and exports like any other network.
"""
import fnmatch
import json
import numbers

import mxnet as mx
import numpy as np
from mxnet import gluon

from gluon_dl.errors import ArgumentError, ArgumentTypeError, ConversionError

from ._channel_report import ChannelGroup, ChannelPruningReport, LayerRow
from ._channels import ChannelGraph, kept_positions, layout_length
from .magnitude import _num_pruned

__all__ = ["ChannelPrunedNet", "prune_channels"]

_PRUNABLE_OPS = ("Convolution", "Deconvolution", "FullyConnected")


def prune_channels(net, sparsity, *, config, exclude=()):
    """Remove the lowest-L1 ``sparsity`` of the channels of every prunable layer.

    Parameters
    ----------
    net : mxnet.gluon.HybridBlock
        Initialized network (one forward pass done if initialization is
        deferred).  It is not modified: the pruned network gets sliced
        copies of its parameters, so both can be used side by side.
    sparsity : float
        Fraction of the channels of each prunable group to remove, in (0, 1):
        ``floor(sparsity * channels)``, at most ``channels - 1`` (a layer
        always keeps one channel).
    config : gluon_dl.models.ModelConfig
        The network's inputs: the graph is traced and its shapes inferred at
        ``config.inputs`` (or at ``config.test_input_shape`` when the network
        was built at that size).  The pruned network carries it as ``.config``.
    exclude : str or sequence of str
        Shell-style patterns of layer paths (``"features.0"``) or weight keys
        (``"features.0.weight"``) whose output channels are kept; a layer in
        a residual group keeps its whole group.

    Returns
    -------
    pruned_net : ChannelPrunedNet
        A new, smaller ``HybridBlock``.  Before any fine-tuning it computes
        what ``net`` computes with the removed channels zeroed (their
        filters, biases and BatchNorm entries: ``report.removed_entries``).
    report : ChannelPruningReport
        Channels, parameters and FLOPs per layer before and after; ``print``
        it for a table, ``to_dict()`` for JSON.

    Raises
    ------
    ArgumentError
        For a sparsity outside (0, 1), a pattern that matches no layer, an
        uninitialized network, one that cannot be traced, or one with no
        channel that can be removed (the message names the layers and why).
    """
    sparsity = _check_sparsity(sparsity)
    _check_config(config)
    patterns = _check_exclude(exclude)
    traced = _Traced(net, config)
    graph = traced.graph()
    _exclude_layers(graph, patterns)
    keep, groups = _choose(graph, traced.arrays, sparsity)
    _check_something_pruned(net, config, sparsity, graph, groups, keep)
    arrays = _slice_arrays(graph, traced.arrays, keep)
    pruned = _rebuild(traced, graph, keep, arrays)
    report = _report(graph, traced, arrays, keep, groups, sparsity)
    return pruned, report


# ------------------------------------------------------------------ arguments

def _check_sparsity(sparsity):
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real):
        raise ArgumentTypeError(f"sparsity must be a float in (0, 1), got "
                                f"{type(sparsity).__name__} {sparsity!r}")
    if not 0.0 < sparsity < 1.0:
        raise ArgumentError(f"sparsity is the fraction of channels removed and must lie in "
                            f"(0, 1), got {sparsity}")
    return float(sparsity)


def _check_config(config):
    from gluon_dl.models import ModelConfig
    if not isinstance(config, ModelConfig):
        raise ArgumentTypeError(f"config must be the network's ModelConfig (net.config or "
                                f"gluon_dl.models.get_config(name)), got {type(config).__name__}")


def _check_exclude(exclude):
    if exclude is None:
        return []
    patterns = [exclude] if isinstance(exclude, str) else list(exclude)
    for p in patterns:
        if not isinstance(p, str):
            raise ArgumentTypeError(f"exclude holds shell-style patterns of layer paths, got "
                                    f"{type(p).__name__} {p!r}")
    return patterns


# ------------------------------------------------------------------ tracing

class _Traced:
    """A network's symbol, shapes, parameter arrays and layer paths."""

    def __init__(self, net, config):
        if not isinstance(net, mx.gluon.HybridBlock):
            raise ArgumentTypeError(f"channel pruning traces the network's graph and needs a "
                                    f"HybridBlock, got {type(net).__name__}")
        self.net, self.config = net, config
        self.params = {p.name: p for p in net.collect_params().values()}
        self.layer_of = _layer_paths(net)
        self.symbol = self._trace()
        used = set(self.symbol.list_arguments()) | set(self.symbol.list_auxiliary_states())
        self.params = {n: p for n, p in self.params.items() if n in used}
        # A forward pass the caller left queued reorders convolution weights in place
        # (MXNet's oneDNN inference keeps them in its own layout, in an engine task the
        # convolution queues); reading them before that task ran could copy them half done.
        mx.nd.waitall()
        self.arrays = {n: _numpy(p, self.layer_of.get(n, n)) for n, p in self.params.items()}
        self.shapes, self.input_shapes = self._infer_shapes()

    def _trace(self):
        inputs = [mx.sym.var(name) for name in self.config.input_names]
        try:
            out = self.net(*inputs)
        except (mx.base.MXNetError, TypeError, ValueError, AttributeError, AssertionError) as err:
            raise ArgumentError(f"{type(self.net).__name__} cannot be traced to a graph on the "
                                f"inputs {self.config.input_names} of config "
                                f"'{self.config.name}' ({err}); channel pruning needs a "
                                f"HybridBlock whose hybrid_forward works on symbols") from err
        if isinstance(out, (list, tuple)):
            out = mx.sym.Group(list(out))
        return out

    def _infer_shapes(self):
        known = {n: a.shape for n, a in self.arrays.items()
                 if n in set(self.symbol.list_arguments())}
        internals = self.symbol.get_internals()
        tried = []
        for shapes in _candidate_input_shapes(self.config):
            tried.append(shapes)
            try:
                _, out_shapes, _ = internals.infer_shape_partial(**known, **shapes)
            except mx.base.MXNetError:
                continue
            if out_shapes and all(s is not None for s in out_shapes):
                found = dict(zip(internals.list_outputs(), (tuple(s) for s in out_shapes)))
                found.update({n: a.shape for n, a in self.arrays.items()})
                return found, shapes
        raise ArgumentError(f"the parameters of {type(self.net).__name__} do not fit the input "
                            f"shapes of config '{self.config.name}' (tried {tried}); build and "
                            f"run the network at its config's input shape")

    def graph(self):
        return ChannelGraph(self.symbol, self.shapes, self.config.input_names,
                            set(self.params), self.layer_of)


def _candidate_input_shapes(config):
    full = {spec.name: (1,) + tuple(spec.shape) for spec in config.inputs}
    yield full
    if config.test_input_shape is not None:
        yield dict(full, **{config.input_names[0]: (1,) + tuple(config.test_input_shape)})


def _layer_paths(net):
    """Parameter name -> dotted Gluon layer path (a pruned net's recorded names first)."""
    paths = {}

    def walk(block, path):
        for key, param in block._reg_params.items():
            paths.setdefault(param.name, path or key)
        for name, child in block._children.items():
            walk(child, f"{path}.{name}" if path else str(name))

    walk(net, "")
    paths.update(getattr(net, "layer_names", {}))
    return paths


def _numpy(param, layer):
    from mxnet.gluon.parameter import DeferredInitializationError
    try:
        return param.list_data()[0].asnumpy()
    except DeferredInitializationError as err:
        raise ArgumentError(f"parameter '{param.name}' of layer '{layer}' is not initialized yet "
                            f"(deferred initialization): run one forward pass, net(x), before "
                            f"pruning channels") from err
    except RuntimeError as err:
        raise ArgumentError(f"parameter '{param.name}' of layer '{layer}' is not initialized: "
                            f"call net.initialize() and run one forward pass first") from err


# ------------------------------------------------------------------ choosing channels

def _exclude_layers(graph, patterns):
    unused = []
    for pattern in patterns:
        hits = [p for p in graph.producers if fnmatch.fnmatchcase(p.layer, pattern)
                or fnmatch.fnmatchcase(f"{p.layer}.weight", pattern)]
        for producer in hits:
            for seg in producer.out_layout:
                graph.frozen.setdefault(seg.space, f"is excluded (pattern '{pattern}')")
        if not hits:
            unused.append(pattern)
    if unused:
        raise ArgumentError(f"exclude patterns {unused} match no convolution or dense layer; "
                            f"the layers are {[p.layer for p in graph.producers]}")


def _choose(graph, arrays, sparsity):
    """Kept channel indices per space, and every group's outcome."""
    by_space = {p.out_space: p for p in graph.producers if p.out_space is not None}
    keep, groups = {}, []
    for root, spaces in sorted(graph.groups().items()):
        members = [by_space[s] for s in spaces if s in by_space]
        if not members:
            continue
        size, reason = graph.sizes[root], graph.frozen_reason(spaces)
        kept = tuple(range(size))
        removed = min(_num_pruned(sparsity, size), size - 1)
        if reason is None and removed > 0:
            score = sum(_l1(arrays[p.weight], p.out_axis) for p in members)
            kept = tuple(int(i) for i in np.sort(np.argsort(-score, kind="stable")[:size - removed]))
            for space in spaces:
                keep[space] = np.asarray(kept)
        groups.append(ChannelGroup(tuple(p.layer for p in members), size, kept, reason))
    return keep, groups


def _l1(weight, axis):
    """L1 norm of each filter along ``axis`` of a weight (float64, so sums are exact enough)."""
    w = np.moveaxis(np.abs(weight.astype(np.float64)), axis, 0)
    return w.reshape(w.shape[0], -1).sum(axis=1)


def _check_something_pruned(net, config, sparsity, graph, groups, keep):
    if keep:
        return
    what = f"{type(net).__name__} (model '{config.name}')"
    open_groups = [g for g in groups if g.reason is None]
    if open_groups:
        largest = max(g.channels for g in open_groups)
        raise ArgumentError(f"sparsity {sparsity} removes no channel of {what}: its largest "
                            f"prunable layer has {largest} channels; use a sparsity of at "
                            f"least {1 / largest:.3g}")
    reasons = [f"layer '{g.layers[0]}' {g.reason}" for g in groups[:4]]
    reasons += [f"layer {graph.describe(nid)} cannot be sliced (a grouped convolution, a dense "
                f"layer over the last axis of a sequence, or shared weights)"
                for nid in graph.refused[:2]]
    if not reasons:
        ops = sorted({n["op"] for n in graph.nodes if n["op"] != "null"})
        reasons = [f"it has no convolution or dense layer (its graph computes "
                   f"{', '.join(ops[:8])}{', ...' if len(ops) > 8 else ''})"]
    raise ArgumentError(f"{what} has no channel that can be removed: {'; '.join(reasons)}. "
                        f"Channel pruning "
                        f"rewires BatchNorm, convolutions, dense layers, residual sums and "
                        f"concatenations only; use deploy.prune.prune_to_sparsity for "
                        f"magnitude pruning of any layer")


# ------------------------------------------------------------------ rebuilding

def _slice_arrays(graph, arrays, keep):
    out = dict(arrays)
    for s in graph.slicings:
        if any(seg.space in keep for seg in s.layout):
            out[s.param] = np.take(out[s.param], kept_positions(s.layout, keep), axis=s.axis)
    return out


def _edited_json(graph, keep, arrays):
    doc = json.loads(json.dumps(graph.graph))
    for nid, edits in graph.attr_edits.items():
        attrs = doc["nodes"][nid].setdefault("attrs", {})
        for attr, layout in edits.items():
            attrs[attr] = str(layout_length(layout, keep))
    for node in doc["nodes"]:
        if node["op"] == "null" and node["name"] in arrays:
            attrs = node.get("attrs", {})
            if "__shape__" in attrs:
                attrs["__shape__"] = str(tuple(arrays[node["name"]].shape))
    return json.dumps(doc)


def _rebuild(traced, graph, keep, arrays):
    symbol = mx.sym.load_json(_edited_json(graph, keep, arrays))
    _check_shapes(symbol, traced.input_shapes, arrays)
    # Typed inputs, so that SymbolBlock does not warn that it cannot infer their dtype.
    inputs = [mx.sym.var(spec.name, dtype=spec.dtype) for spec in traced.config.inputs]
    names = {n: traced.layer_of[n] for n in arrays if n in traced.layer_of}
    pruned = ChannelPrunedNet(symbol, inputs, traced.config, names)
    params = pruned.collect_params()
    for name, array in arrays.items():
        original = traced.params[name]
        param = params[name]
        param.shape = array.shape  # known before the first forward pass, as in the original
        param.grad_req = original.grad_req
        param.lr_mult, param.wd_mult = original.lr_mult, original.wd_mult
    ctx = traced.params[next(iter(arrays))].list_ctx()
    params.load_dict({n: mx.nd.array(a, dtype=a.dtype) for n, a in arrays.items()}, ctx=ctx)
    return pruned


def _check_shapes(symbol, input_shapes, arrays):
    try:
        arg_shapes, _, aux_shapes = symbol.infer_shape(**input_shapes)
    except mx.base.MXNetError as err:
        raise ConversionError(f"the channel-pruned graph does not infer shapes: {err}") from err
    names = symbol.list_arguments() + symbol.list_auxiliary_states()
    for name, shape in zip(names, list(arg_shapes) + list(aux_shapes)):
        if name in arrays and tuple(shape) != arrays[name].shape:
            raise ConversionError(f"channel pruning sliced parameter '{name}' to "
                                  f"{arrays[name].shape}, but the pruned graph needs {shape}")


class ChannelPrunedNet(gluon.SymbolBlock):
    """A network whose channels :func:`prune_channels` removed: a ``gluon.SymbolBlock``.

    It trains (``fit``), hybridizes, saves (``save_parameters``, ``export``)
    and exports to ONNX/TFLite like any HybridBlock.  Magnitude pruning finds
    its convolution and dense weights through ``get_prunable_weights``.

    Attributes
    ----------
    config : ModelConfig
        The original network's config (inputs, classes, normalization).
    layer_names : dict
        Parameter name -> the layer path it had in the original network, used
        by reports and by a second round of channel pruning.
    """

    def __init__(self, outputs, inputs, config, layer_names):
        super().__init__(outputs, inputs)
        self.config = config
        self.layer_names = dict(layer_names)
        nodes = json.loads(outputs.tojson())["nodes"]
        self._prunable = [nodes[n["inputs"][1][0]]["name"] for n in nodes
                          if n["op"] in _PRUNABLE_OPS and len(n["inputs"]) > 1]

    def get_prunable_weights(self):
        """Convolution and dense weights by their original keys (``"features.0.weight"``).

        Magnitude pruning (:mod:`deploy.prune.magnitude`) finds them through
        this method, so its ``exclude`` patterns name the layers as in the
        network that was channel-pruned.
        """
        params = self.collect_params()
        return {f"{self.layer_names.get(name, name)}.weight": params[name]
                for name in self._prunable if name in params}


# ------------------------------------------------------------------ report

def _report(graph, traced, arrays, keep, groups, sparsity):
    rows = [_row(p, traced.arrays, arrays, keep) for p in graph.producers]
    trainable = [n for n, param in traced.params.items() if param.grad_req != "null"]
    params = (sum(traced.arrays[n].size for n in trainable), sum(arrays[n].size for n in trainable))
    return ChannelPruningReport(sparsity, rows, groups, tuple(int(p) for p in params),
                                _removed_entries(graph, keep))


def _row(producer, before, after, keep):
    p = producer
    if p.op == "Convolution":
        spatial, op = int(np.prod(p.out_shape[2:])), "conv" if p.out_space is not None else "dwconv"
    elif p.op == "Deconvolution":
        spatial, op = int(np.prod(p.in_shape[2:])), "deconv"
    else:
        spatial, op = 1, "dense"

    def size(arrays, name):
        return int(arrays[name].size) if name else 0

    w0, w1 = size(before, p.weight), size(after, p.weight)
    return LayerRow(
        p.layer, op, (layout_length(p.out_layout, {}), layout_length(p.out_layout, keep)),
        (layout_length(p.in_layout, {}), layout_length(p.in_layout, keep)),
        (w0 + size(before, p.bias), w1 + size(after, p.bias)), (w0 * spatial, w1 * spatial))


def _removed_entries(graph, keep):
    out = {}
    for s in graph.slicings:
        if s.owned and any(seg.space in keep for seg in s.layout):
            full = np.arange(layout_length(s.layout, {}))
            removed = np.setdiff1d(full, kept_positions(s.layout, keep))
            out[s.param] = (s.axis, tuple(int(i) for i in removed))
    return out
