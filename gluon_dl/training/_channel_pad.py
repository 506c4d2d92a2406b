"""Pad narrow convolution stages of a training graph to oneDNN's channel block.

oneDNN's fast CPU kernels work on channels in blocks of 8 (AVX2; 16 with
AVX-512).  A convolution with, say, 6 output filters (LeNet-5's first stage,
and every course LeNet) would need its output padded to a full block, and
MXNet 1.9's oneDNN integration refuses padded layouts (its memory planner
reuses buffers sized for the unpadded tensor), so that convolution runs as
a GEMM writing plain NCHW.  With AVX2 the pooling after it then falls to
oneDNN's reference ``simple_nchw`` kernel (a quarter of LeNet-5's training
step); with AVX-512 the pooling has a plain-layout JIT kernel, but the
convolution's forward and backward-weights passes and the next
convolution's backward passes run as GEMMs (``x64:gemm:jit``): three
quarters of LeNet-5's oneDNN time, at 3-4x the time of the blocked JIT
kernels.  The block is :func:`block`: padding to 8 on AVX-512 (half a block)
still leaves a padded layout, and the GEMMs.

:func:`pad_channels` rewrites a symbol so such a stage computes the same
values with the channel count rounded up to the block: the convolution's
weight and bias get zero filters appended, the padded channels flow through
channel-wise operators (activations, pooling), and either the next
convolution gets zero input weights for them or, before any other operator,
they are sliced off.  The parameters keep their shapes; the extra channels
add nothing to any output or gradient.  ``fit`` applies it to the fused
training graph on CPU contexts only, by default (:func:`worthwhile`;
``fit(..., channel_pad=True/False)`` decides instead, see :func:`wanted`), so
exported and inference graphs never change.
"""
import json

BLOCK = 8  # AVX2's block; AVX-512 kernels block by 16 (see :func:`block`)

# Operators that treat every channel alike and independently, so padded
# channels may pass through them (LeakyReLU only without learned or random
# slopes; the casts are what mixed precision inserts between layers).
_ELEMENTWISE = {"Activation", "relu", "sigmoid", "tanh", "softsign", "erf", "amp_cast", "Cast"}
_LEAKY_TYPES = {"leaky", "elu", "selu", "gelu"}


def worthwhile(flags=None):
    """Whether padding to :func:`block` pays on this CPU: yes, with and without AVX-512.

    Without AVX-512 it moves the pooling after a narrow stage off oneDNN's
    reference kernel; with AVX-512 (padding to 16, a full block) it moves
    the narrow stage's convolutions off GEMM onto the blocked JIT kernels.
    Padding to 8 on AVX-512, half a block, made LeNet-5's step slower (on a
    Sapphire Rapids Xeon): :func:`block` never does that.  ``flags`` is
    accepted for symmetry with :func:`block`; no CPU flag turns it off.
    """
    del flags  # every x86 block size measured so far pays
    return True


def block(flags=None):
    """oneDNN's channel block on this CPU: 16 with AVX-512, 8 without.

    Padding to half an AVX-512 block leaves the layout padded, which MXNet
    refuses, so the stage would still run as a GEMM.
    """
    from .amp import cpu_flags

    return 16 if "avx512f" in (cpu_flags() if flags is None else flags) else BLOCK


def wanted(setting, context):
    """Whether ``fit``'s training graph on ``context`` is padded, by its ``channel_pad`` switch.

    ``None`` pads where it pays (:func:`worthwhile`), ``True`` always, ``False``
    never; GPU graphs never: the rewrite works around oneDNN's CPU kernels.
    """
    if context.device_type != "cpu" or setting is False:
        return False
    return True if setting else worthwhile()


def pad_channels(sym, input_shapes, block=BLOCK):
    """``sym`` with its narrow convolution stages padded to ``block`` channels.

    A 2-D NCHW convolution (ungrouped) whose filter count is not a multiple
    of ``block`` is padded when its output reaches a pooling layer through
    channel-wise operators only; that pooling is what the padding speeds up.
    ``input_shapes`` (input name -> shape) completes the parameters' shapes
    first: once the weights feed a concatenation, deferred initialization
    could no longer infer them.  Returns ``sym`` itself when nothing qualifies.
    """
    import mxnet as mx

    graph = json.loads(sym.tojson(remove_amp_cast=False))  # keep mixed precision's casts
    nodes = graph["nodes"]
    targets = _convolutions_to_pad(nodes, block)
    if not targets:
        return sym
    _complete_parameter_shapes(sym, nodes, input_shapes)
    graph["nodes"], graph["heads"] = _Rewriter(nodes, targets, block).run(graph["heads"])
    graph["arg_nodes"] = [i for i, n in enumerate(graph["nodes"]) if n["op"] == "null"]
    graph.pop("node_row_ptr", None)
    return mx.sym.load_json(json.dumps(graph))


def _complete_parameter_shapes(sym, nodes, input_shapes):
    """Write the inferred shape of every parameter variable into its ``__shape__``."""
    arg_shapes, _, aux_shapes = sym.infer_shape_partial(**input_shapes)
    inferred = dict(zip(sym.list_arguments(), arg_shapes))
    inferred.update(zip(sym.list_auxiliary_states(), aux_shapes))
    for node in nodes:
        shape = inferred.get(node["name"])
        if node["op"] == "null" and "__shape__" in node.get("attrs", {}) and shape \
                and all(shape):
            node["attrs"]["__shape__"] = str(tuple(shape))


def _attr(node, key, default=None):
    return node.get("attrs", {}).get(key, default)


def _tuple(text):
    return tuple(int(v) for v in text.strip("()[] ").split(",") if v.strip())


def _is_2d_nchw(node):
    return (len(_tuple(_attr(node, "kernel", "()"))) == 2
            and _attr(node, "layout", "None") in ("None", "NCHW"))


def _is_channelwise(node):
    op = node["op"]
    if op == "Pooling":
        return _is_2d_nchw(node) or _attr(node, "global_pool", "False") in ("True", "1")
    if op == "LeakyReLU":
        return _attr(node, "act_type", "leaky") in _LEAKY_TYPES
    return op in _ELEMENTWISE and len(node["inputs"]) == 1


def _pads_input(node):
    """A convolution that can take padded input channels through zero weights."""
    return (node["op"] == "Convolution" and _is_2d_nchw(node)
            and int(_attr(node, "num_group", "1")) == 1)


def _convolutions_to_pad(nodes, block):
    """Ids of the convolutions worth padding (see :func:`pad_channels`)."""
    consumers = {}
    for nid, node in enumerate(nodes):
        for src, idx, _ in node["inputs"]:
            consumers.setdefault((src, idx), []).append(nid)
    targets = set()
    for nid, node in enumerate(nodes):
        if not (_pads_input(node) and int(_attr(node, "num_filter")) % block):
            continue
        frontier, reaches_pool = [nid], False
        while frontier and not reaches_pool:
            source = frontier.pop()
            for user in consumers.get((source, 0), []):
                if _is_channelwise(nodes[user]) and nodes[user]["inputs"][0][:2] == [source, 0]:
                    reaches_pool |= nodes[user]["op"] == "Pooling"
                    frontier.append(user)
        if reaches_pool:
            targets.add(nid)
    return targets


class _Rewriter:
    """Copies the nodes in order, padding ``targets`` and what flows from them."""

    def __init__(self, nodes, targets, block):
        self.old, self.targets, self.block = nodes, targets, block
        self.nodes = []
        self.copied = {}  # old node id -> new node id, outputs unchanged
        self.padded = {}  # old entry -> (new entry with padded channels, real channels)
        self.sliced = {}  # old entry -> new entry: a padded one with the padding cut off

    def run(self, heads):
        for nid, node in enumerate(self.old):
            self._copy(nid, node)
        return self.nodes, [self._plain(tuple(h[:2])) for h in heads]

    def _emit(self, node):
        self.nodes.append(node)
        return [len(self.nodes) - 1, 0, 0]

    def _plain(self, entry):
        """The new entry holding an old entry's value, with its original channels."""
        nid, idx = entry
        if nid in self.copied:
            return [self.copied[nid], idx, 0]
        if entry not in self.sliced:  # a padded value used by an operator that needs it cut
            new, channels = self.padded[entry]
            self.sliced[entry] = self._emit({
                "op": "slice_axis", "name": f"{self.old[nid]['name']}_unpad", "inputs": [new],
                "attrs": {"axis": "1", "begin": "0", "end": str(channels)}})
        return self.sliced[entry]

    def _copy(self, nid, node):
        node = dict(node, attrs=dict(node.get("attrs", {})))
        inputs = [tuple(e[:2]) for e in node["inputs"]]
        padded_in = self.padded.get(inputs[0]) if inputs else None
        if padded_in and not (_is_channelwise(node) or _pads_input(node)):
            padded_in = None  # this operator gets the original channels
        first = [padded_in[0]] if padded_in else [self._plain(e) for e in inputs[:1]]
        node["inputs"] = first + [self._plain(e) for e in inputs[1:]]
        if padded_in and _is_channelwise(node):  # padding flows through
            self.padded[(nid, 0)] = (self._emit(node), padded_in[1])
            return
        pad_in = self._rounded(padded_in[1]) - padded_in[1] if padded_in else 0  # zero weights
        if nid in self.targets:
            channels = int(_attr(node, "num_filter"))
            self._pad_weights(node, pad_in, self._rounded(channels) - channels)
            node["attrs"]["num_filter"] = str(self._rounded(channels))
            self.padded[(nid, 0)] = (self._emit(node), channels)
            return
        if pad_in:
            self._pad_weights(node, pad_in, 0)
        if not node["attrs"]:
            del node["attrs"]
        self.copied[nid] = self._emit(node)[0]

    def _rounded(self, channels):
        return -(-channels // self.block) * self.block

    def _pad_weights(self, node, pad_in, pad_out):
        """Zero input filters for padded input channels; zero filters for padded outputs."""
        ndim = len(_tuple(_attr(node, "kernel"))) + 2
        weight = node["inputs"][1]
        if pad_in:
            weight = self._zero_pad(weight, 1, pad_in, ndim, node["name"] + "_weight_in")
        if pad_out:
            weight = self._zero_pad(weight, 0, pad_out, ndim, node["name"] + "_weight_out")
            if _attr(node, "no_bias", "False") not in ("True", "1"):
                node["inputs"][2] = self._zero_pad(node["inputs"][2], 0, pad_out, 1,
                                                   node["name"] + "_bias_out")
        node["inputs"][1] = weight

    def _zero_pad(self, entry, axis, count, ndim, name):
        """``concat(entry, zeros)`` along ``axis``; the zeros take ``entry``'s dtype."""
        one = self._emit({"op": "slice_axis", "name": name + "_slice", "inputs": [entry],
                          "attrs": {"axis": str(axis), "begin": "0", "end": "1"}})
        zero = self._emit({"op": "zeros_like", "name": name + "_zero", "inputs": [one]})
        reps = [1] * ndim
        reps[axis] = count
        zeros = self._emit({"op": "tile", "name": name + "_zeros", "inputs": [zero],
                            "attrs": {"reps": str(tuple(reps))}})
        return self._emit({"op": "Concat", "name": name + "_padded", "inputs": [entry, zeros],
                           "attrs": {"dim": str(axis), "num_args": "2"}})
