"""Channel groups of a traced Gluon network: which channels can be removed together.

The network is traced to MXNet's symbol graph (``net(mx.sym.var(name))``)
and every tensor's channel axis (axis 1) is described as a *layout*: the
ordered segments it is made of, each a range of one *channel space*.  A
convolution, deconvolution or dense layer creates a new space (its output
channels); channel-wise operators (activations, pooling, dropout,
BatchNorm, depthwise convolutions) pass their input's layout on;
``Concat`` on the channel axis joins layouts end to end; ``Flatten`` keeps
the layout with every channel spread over ``H*W`` features; element-wise
additions and products merge the spaces they combine into one group (the
channels of a residual stream are one channel for pruning).

Every other operator (reshape, transpose, recurrent layers, softmax over
channels, grouped convolutions, ...) mixes or moves channels in ways that
slicing cannot follow: the spaces it reads are frozen, and so are the spaces
of the network's outputs (a classifier keeps all its classes).  A group can
be pruned when none of its spaces is frozen.

Nothing here changes the network; :mod:`deploy.prune.structured` ranks,
slices and rebuilds.
"""
import dataclasses
import json
from typing import Tuple

import numpy as np
# Operators whose output channel c depends on input channel c only.
_CHANNELWISE = frozenset({
    "Activation", "relu", "sigmoid", "tanh", "softsign", "clip", "Dropout", "Pooling",
    "_copy", "identity", "Cast", "abs", "negative", "square", "sqrt", "exp", "log",
    "_mul_scalar", "_div_scalar", "_plus_scalar", "_minus_scalar", "_rminus_scalar",
    "_rdiv_scalar", "_maximum_scalar", "_minimum_scalar", "_power_scalar", "BlockGrad",
    "hard_sigmoid", "erf", "softrelu", "UpSampling",
})
_ELEMENTWISE = frozenset({
    "elemwise_add", "elemwise_sub", "elemwise_mul", "elemwise_div", "_plus", "_minus", "_mul",
    "_div", "_Plus", "_Minus", "_Mul", "_Div", "broadcast_add", "broadcast_sub",
    "broadcast_mul", "broadcast_div", "broadcast_plus", "broadcast_minus", "_maximum",
    "_minimum", "broadcast_maximum", "broadcast_minimum", "add_n", "ElementWiseSum",
})
# Per-channel parameters of channel-wise operators: op -> parameter input positions.
_CHANNEL_PARAMS = {"BatchNorm": (1, 2, 3, 4), "InstanceNorm": (1, 2), "LeakyReLU": (1,)}
_NORM_AXIS_OPS = ("BatchNorm",)


@dataclasses.dataclass(frozen=True)
class Segment:
    """``size`` channels of space ``space``, each spread over ``expand`` features."""

    space: int
    size: int
    expand: int = 1


Layout = Tuple[Segment, ...]


@dataclasses.dataclass
class Producer:
    """A layer whose parameters are sliced: a convolution, deconvolution or dense layer.

    ``out_space`` is the space of its output channels, or None for a depthwise
    convolution, whose output channels are its input channels.
    """

    node: int
    op: str
    layer: str
    weight: str
    bias: str
    in_layout: Layout
    out_layout: Layout
    out_space: int
    in_axis: int
    out_axis: int
    in_shape: Tuple[int, ...]
    out_shape: Tuple[int, ...]


@dataclasses.dataclass
class Slicing:
    """Parameter ``param`` keeps, along ``axis``, the surviving channels of ``layout``.

    ``owned`` slicings belong to the removed channels themselves (their
    filters, biases, BatchNorm entries): zeroing exactly those entries in the
    original network computes what the pruned network computes.
    """

    param: str
    axis: int
    layout: Layout
    owned: bool


def _attrs(node):
    return node.get("attrs", node.get("param", {})) or {}


def _int(attrs, key, default):
    value = attrs.get(key)
    return default if value in (None, "None") else int(value)


def _is_channel_first(layout_attr):
    return layout_attr in (None, "None", "NCW", "NCHW", "NCDHW")


class ChannelGraph:
    """The channel spaces, groups and parameter slicings of a traced network.

    Parameters
    ----------
    symbol : mxnet.symbol.Symbol
        The traced network (a Group for several outputs).
    shapes : dict
        Shape of every internal output (``symbol.get_internals()`` names) and
        every parameter.
    input_names : sequence of str
    param_names : set of str
        Names of the network's parameters (arguments and auxiliary states).
    layer_of : dict
        Parameter name -> dotted layer path in the Gluon network, used in
        reports and errors.
    """

    def __init__(self, symbol, shapes, input_names, param_names, layer_of):
        self.graph = json.loads(symbol.tojson())
        self.nodes = self.graph["nodes"]
        self.shapes = shapes
        self.input_names = tuple(input_names)
        self.param_names = set(param_names)
        self.layer_of = layer_of
        self.sizes = []       # space -> channel count
        self.parent = []      # union-find over spaces
        self.frozen = {}      # space -> reason it keeps every channel
        self.producers = []   # Producer, in graph order
        self.refused = []     # convolution/dense nodes that cannot be sliced
        self.slicings = []    # Slicing
        self.attr_edits = {}  # node -> {attr: Layout whose kept length is the new value}
        self._layouts = {}    # (node, output) -> Layout
        self._uses = self._count_param_uses()
        for nid, node in enumerate(self.nodes):
            if node["op"] != "null":
                self._visit(nid, node)
        for head in self.graph["heads"]:
            self._freeze(self._layout((head[0], head[1])), "produces the network's output")

    # ------------------------------------------------------------ spaces
    def _new_space(self, size, frozen=None):
        self.sizes.append(int(size))
        self.parent.append(len(self.parent))
        if frozen:
            self.frozen[len(self.sizes) - 1] = frozen
        return len(self.sizes) - 1

    def find(self, space):
        """Root of ``space``'s group."""
        while self.parent[space] != space:
            self.parent[space] = self.parent[self.parent[space]]
            space = self.parent[space]
        return space

    def _union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def _freeze(self, layout, reason):
        for seg in layout:
            self.frozen.setdefault(seg.space, reason)

    def groups(self):
        """``{root: [spaces]}`` of every channel group."""
        out = {}
        for space in range(len(self.sizes)):
            out.setdefault(self.find(space), []).append(space)
        return out

    def frozen_reason(self, spaces):
        """Why a group keeps all its channels, or None if it can be pruned."""
        for space in spaces:
            if space in self.frozen:
                return self.frozen[space]
        return None

    # ------------------------------------------------------------ naming
    def _node_name(self, nid):
        return self.nodes[nid]["name"]

    def describe(self, nid):
        """``"'features.0' (Convolution)"``: the Gluon layer of a node, else its symbol name."""
        node = self.nodes[nid]
        for param in self._param_inputs(node):
            if param in self.layer_of:
                return f"'{self.layer_of[param]}' ({node['op']})"
        return f"'{node['name']}' ({node['op']})"

    # ------------------------------------------------------------ shapes and layouts
    def _shape(self, entry):
        nid, idx = entry
        node = self.nodes[nid]
        if node["op"] == "null":
            return self.shapes.get(node["name"])
        for key in ([f"{node['name']}_output"] if idx == 0 else []) + [
                f"{node['name']}_output{idx}"]:
            if key in self.shapes:
                return self.shapes[key]
        return None

    def _layout(self, entry):
        """Layout of a tensor; an unseen one (an input, an opaque output) gets a frozen space."""
        if entry not in self._layouts:
            shape = self._shape(entry) or ()
            node = self.nodes[entry[0]]
            reason = ("is the network's input" if node["op"] == "null"
                      else f"comes out of {self.describe(entry[0])}, which channel pruning "
                           f"cannot rewire")
            size = shape[1] if len(shape) >= 2 else 1
            self._layouts[entry] = (Segment(self._new_space(size, reason), size),)
        return self._layouts[entry]

    def _count_param_uses(self):
        uses = {}
        for node in self.nodes:
            for param in self._param_inputs(node):
                uses[param] = uses.get(param, 0) + 1
        return uses

    def _param_inputs(self, node):
        return [self.nodes[i[0]]["name"] for i in node.get("inputs", ())
                if self.nodes[i[0]]["op"] == "null"
                and self.nodes[i[0]]["name"] in self.param_names]

    def _data_inputs(self, node):
        return [(i[0], i[1]) for i in node.get("inputs", ())
                if not (self.nodes[i[0]]["op"] == "null"
                        and self.nodes[i[0]]["name"] in self.param_names)]

    def _input_name(self, node, position):
        inputs = node.get("inputs", ())
        if position >= len(inputs):
            return None
        src = self.nodes[inputs[position][0]]
        return src["name"] if src["op"] == "null" and src["name"] in self.param_names else None

    # ------------------------------------------------------------ operators
    def _visit(self, nid, node):
        op = node["op"]
        handler = {
            "Convolution": self._convolution, "Deconvolution": self._deconvolution,
            "FullyConnected": self._dense, "Flatten": self._flatten, "Concat": self._concat,
            "concat": self._concat,
        }.get(op)
        if handler is None and op == "slice_axis":
            handler = self._slice_other_axis
        elif handler is None and op in _ELEMENTWISE:
            handler = self._elementwise
        elif handler is None and (op in _CHANNELWISE or op in _CHANNEL_PARAMS):
            handler = self._channelwise
        if handler is None or not handler(nid, node):
            self._opaque(nid, node)

    def _opaque(self, nid, node):
        if node["op"] in ("Convolution", "Deconvolution", "FullyConnected"):
            self.refused.append(nid)
        reason = (f"is read by {self.describe(nid)}, which mixes or reshapes channels in a way "
                  f"channel pruning cannot rewire")
        for entry in self._data_inputs(node):
            self._freeze(self._layout(entry), reason)

    def _single_input(self, node):
        data = self._data_inputs(node)
        return data[0] if len(data) == 1 else None

    def _shared(self, node):
        return any(self._uses.get(p, 0) > 1 for p in self._param_inputs(node))

    def _convolution(self, nid, node):
        attrs, entry = _attrs(node), self._single_input(node)
        shape = self._shape(entry) if entry else None
        if entry is None or not shape or self._shared(node) or not _is_channel_first(
                attrs.get("layout")):
            return False
        groups, filters = _int(attrs, "num_group", 1), _int(attrs, "num_filter", 0)
        in_layout = self._layout(entry)
        if groups == 1:
            return self._producer(nid, node, in_layout, in_axis=1, out_axis=0, size=filters,
                                  attr="num_filter")
        if groups == shape[1] == filters:  # depthwise: channel c in, channel c out
            self._add_producer(nid, node, in_layout, in_layout, None, in_axis=None, out_axis=0)
            self.attr_edits[nid] = {"num_filter": in_layout, "num_group": in_layout}
            self._layouts[(nid, 0)] = in_layout
            return True
        return False

    def _deconvolution(self, nid, node):
        attrs, entry = _attrs(node), self._single_input(node)
        if entry is None or self._shared(node) or _int(attrs, "num_group", 1) != 1 \
                or not _is_channel_first(attrs.get("layout")):
            return False
        return self._producer(nid, node, self._layout(entry), in_axis=0, out_axis=1,
                              size=_int(attrs, "num_filter", 0), attr="num_filter")

    def _dense(self, nid, node):
        attrs, entry = _attrs(node), self._single_input(node)
        shape = self._shape(entry) if entry else None
        if entry is None or not shape or self._shared(node):
            return False
        layout = self._layout(entry)
        if len(shape) > 2:
            if attrs.get("flatten", "True") in ("False", "0", "false"):
                return False  # dense over the last axis of a sequence: not axis 1
            layout = _expand(layout, int(np.prod(shape[2:])))
        return self._producer(nid, node, layout, in_axis=1, out_axis=0,
                              size=_int(attrs, "num_hidden", 0), attr="num_hidden")

    def _producer(self, nid, node, in_layout, in_axis, out_axis, size, attr):
        space = self._new_space(size)
        out_layout = (Segment(space, size),)
        self._add_producer(nid, node, in_layout, out_layout, space, in_axis, out_axis)
        self.attr_edits[nid] = {attr: out_layout}
        self._layouts[(nid, 0)] = out_layout
        return True

    def _add_producer(self, nid, node, in_layout, out_layout, space, in_axis, out_axis):
        weight, bias = self._input_name(node, 1), self._input_name(node, 2)
        if in_axis is not None:
            self.slicings.append(Slicing(weight, in_axis, in_layout, owned=False))
        self.slicings.append(Slicing(weight, out_axis, out_layout, owned=True))
        if bias is not None:
            self.slicings.append(Slicing(bias, 0, out_layout, owned=True))
        self.producers.append(Producer(
            nid, node["op"], self.layer_of.get(weight, node["name"]), weight, bias, in_layout,
            out_layout, space, in_axis, out_axis, tuple(self._shape(self._single_input(node)) or ()),
            tuple(self._shape((nid, 0)) or ())))

    def _flatten(self, nid, node):
        entry = self._single_input(node)
        shape = self._shape(entry) if entry else None
        if not shape or len(shape) < 2:
            return False
        self._layouts[(nid, 0)] = _expand(self._layout(entry), int(np.prod(shape[2:])))
        return True

    def _concat(self, nid, node):
        entries = self._data_inputs(node)
        shape = self._shape(entries[0]) if entries else None
        if not shape or len(shape) < 2:
            return False
        dim = _int(_attrs(node), "dim", 1)
        if dim % len(shape) != 1:
            return False
        self._layouts[(nid, 0)] = tuple(s for e in entries for s in self._layout(e))
        return True

    def _channelwise(self, nid, node):
        attrs, entry = _attrs(node), self._single_input(node)
        shape = self._shape(entry) if entry else None
        if entry is None or not shape or len(shape) < 2:
            return False
        if node["op"] in _NORM_AXIS_OPS and _int(attrs, "axis", 1) % len(shape) != 1:
            return False
        if node["op"] == "Pooling" and not _is_channel_first(attrs.get("layout")):
            return False
        layout, sliced = self._layout(entry), []
        for position in _CHANNEL_PARAMS.get(node["op"], ()):
            param = self._input_name(node, position)
            pshape = self.shapes.get(param) if param else None
            if param is None or (pshape and tuple(pshape) == (1,)):
                continue  # absent, or one value for every channel (a scalar PReLU slope)
            if self._uses.get(param, 0) > 1 or not pshape or pshape[0] != shape[1]:
                return False
            sliced.append(Slicing(param, 0, layout, owned=True))
        self.slicings.extend(sliced)
        self._layouts[(nid, 0)] = layout
        return True

    def _slice_other_axis(self, nid, node):
        entry = self._single_input(node)
        shape = self._shape(entry) if entry else None
        if not shape or len(shape) < 2 or _int(_attrs(node), "axis", 0) % len(shape) == 1:
            return False
        self._layouts[(nid, 0)] = self._layout(entry)
        return True

    def _elementwise(self, nid, node):
        entries = self._data_inputs(node)
        shapes = [self._shape(e) for e in entries]
        if not entries or any(not s or len(s) < 2 for s in shapes):
            return False
        full = [e for e, s in zip(entries, shapes) if s[1] != 1]
        if not full:
            return False
        reference = self._layout(full[0])
        for entry in full[1:]:
            if not self._merge(reference, self._layout(entry)):
                return False
        reason = f"is broadcast over the channels by {self.describe(nid)}"
        for entry, shape in zip(entries, shapes):
            if shape[1] == 1:
                self._freeze(self._layout(entry), reason)
        self._layouts[(nid, 0)] = reference
        return True

    def _merge(self, a, b):
        if [(s.size, s.expand) for s in a] != [(s.size, s.expand) for s in b]:
            return False
        for x, y in zip(a, b):
            self._union(x.space, y.space)
        return True


def _expand(layout, factor):
    return tuple(Segment(s.space, s.size, s.expand * factor) for s in layout)


def kept_positions(layout, keep):
    """Indices along an axis laid out as ``layout`` that survive, given ``keep``.

    ``keep`` maps a space to the sorted channel indices it keeps; spaces
    absent from it keep every channel.
    """
    out, offset = [], 0
    for seg in layout:
        idx = keep.get(seg.space)
        idx = np.arange(seg.size) if idx is None else np.asarray(idx)
        out.append(offset + (idx[:, None] * seg.expand + np.arange(seg.expand)).ravel())
        offset += seg.size * seg.expand
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def layout_length(layout, keep):
    """Length of an axis laid out as ``layout`` after pruning with ``keep``."""
    return int(sum((seg.size if keep.get(seg.space) is None else len(keep[seg.space]))
                   * seg.expand for seg in layout))

