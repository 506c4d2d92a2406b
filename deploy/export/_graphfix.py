"""ONNX rewrites that onnx2tf needs before it converts MXNet's graphs.

onnx2tf infers a channels-last layout for every tensor and transposes the
graph accordingly; a few patterns in MXNet's exports defeat that inference
and convert into models that run but compute other numbers, or fail:

- shapes computed at run time (``Shape -> Gather -> Concat -> Reshape``, what
  a free batch axis leaves behind) keep onnx2tf from knowing the layout of
  what follows: the batch axis is fixed to the TFLite model's batch and
  onnxsim folds every shape into a constant;
- ``Unsqueeze`` of a channels-first sequence ``(N, C, T) -> (N, C, 1, T)``
  (a 1-D convolution written as a 2-D one) is placed on the wrong axis, so
  the convolution slides over a dimension of size one: it becomes a
  ``Reshape`` to the now static shape, which onnx2tf maps correctly;
- a ``Reshape`` target with code ``0`` ("copy this axis of the input")
  becomes the explicit shape the pinned shapes give; onnxsim's
  ``eliminate_consecutive_idempotent_ops`` drops the first of two Reshapes
  even when the second copies axes of its input with ``0``, so
  ``Dense(flatten=False)`` followed by multi-head attention's head split
  ``(0, 0, heads, -1)`` became a Reshape of the flattened ``(N*T, C)``
  matrix to no valid shape, on which onnx2tf failed (that pass is skipped
  while a ``0`` code is left);
- a ``Split`` or ``Slice`` that takes a ``Concat`` apart again (a stack of
  per-layer decoder states, ``(layers, N, H)``) reads the pieces from the
  Concat's inputs: onnx2tf concatenates batch-one pieces on another axis,
  and the Split then fails or the Slice reads other numbers;
- a padded ``MaxPool`` becomes an explicit ``Pad`` and an unpadded MaxPool:
  onnx2tf pads with the dtype's lowest value (``-3.4e38``), which the int8
  calibration then records as the range of the tensor before the pool
  (ResNet's stem had a scale of 1.3e36, every activation one code, and its
  int8 file aborted the interpreter); zeros pad a non-negative input (after
  a ReLU) and the edge values any other, both exact for max pooling.

:func:`prepare` applies them all; the exported ONNX file itself is untouched.
"""
from pathlib import Path

import numpy as np

from gluon_dl.errors import ConversionError
from gluon_dl.utils.deps import require

from .onnx import save_model


def prepare(onnx_path, out_path, batch_size=1, config=None):
    """Write ``onnx_path`` rewritten for onnx2tf to ``out_path``.

    Parameters
    ----------
    onnx_path, out_path : str or Path
    batch_size : int or None
        The TFLite model's batch; None leaves the batch axis free (then only
        the rewrites that need no static shapes are applied).
    config : ModelConfig, optional
        Other free input axes (a sequence length) take its input shapes.

    Returns
    -------
    Path
        ``out_path``.
    """
    onnx = require("onnx", "convert", "TFLite conversion")
    model = onnx.load(str(onnx_path))
    _fix_inputs(model, batch_size, config)
    _onehot_to_gather(model)
    model = _simplify(model, onnx_path)
    model = onnx.shape_inference.infer_shapes(model)
    before = _structure(model)
    _explicit_reshapes(model)
    _static_unsqueeze_to_reshape(model)
    _collapse_padded_transposes(model)
    _unstack_concat_slices(model)
    _unroll_recurrent(model)
    if _structure(model) != before:  # a rewrite leaves work for onnxsim (a minute for VGG)
        model = _simplify(model, onnx_path)
    _finite_maxpool_padding(model)  # after onnxsim, which fuses a Pad back into the pool
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    save_model(model, out_path)
    return Path(out_path)


def _structure(model):
    """The graph's nodes and constant names: what the rewrites change (weights aside)."""
    return ([(n.op_type, tuple(n.input), tuple(n.output), n.SerializeToString())
             for n in model.graph.node], sorted(i.name for i in model.graph.initializer))


def _fix_inputs(model, batch_size, config):
    """Give the free axes of the graph inputs their sizes: the batch, then the config's."""
    weights = {init.name for init in model.graph.initializer}
    specs = {spec.name: tuple(spec.shape) for spec in config.inputs} if config else {}
    for value in model.graph.input:
        if value.name in weights:
            continue
        sizes = (batch_size,) + specs.get(value.name, (None,) * 8)
        for dim, size in zip(value.type.tensor_type.shape.dim, sizes):
            if not dim.HasField("dim_value") and size is not None:
                dim.ClearField("dim_param")
                dim.dim_value = size
    for value in model.graph.output:  # re-inferred from the inputs
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.ClearField("dim_param")
    del model.graph.value_info[:]


def _simplify(model, source):
    onnxsim = require("onnxsim", "convert", "ONNX simplification before onnx2tf")
    # its Reshape fusion ignores `0` codes (copy an input axis) and then computes other shapes
    skipped = ["eliminate_consecutive_idempotent_ops"] if _copies_input_axes(model) else None
    try:
        simplified, ok = onnxsim.simplify(model, skipped_optimizers=skipped)
    except Exception as exc:  # onnxsim raises plain RuntimeErrors from C++
        raise ConversionError(f"onnxsim could not simplify {source} for onnx2tf: {exc}") from exc
    if not ok:
        raise ConversionError(f"onnxsim's check of the simplified {source} failed; export with "
                              f"simplify=False to inspect the graph")
    return simplified


def _copies_input_axes(model):
    """Whether some ``Reshape`` has a constant target with a ``0`` code (and no allowzero)."""
    from onnx import numpy_helper
    targets = {node.input[1] for node in model.graph.node if node.op_type == "Reshape"}
    consts = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer
              if init.name in targets}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return any(node.op_type == "Reshape" and node.input[1] in consts
               and not _attr(node, "allowzero", 0) and (consts[node.input[1]] == 0).any()
               for node in model.graph.node)


def _explicit_reshapes(model):
    """Give a ``Reshape`` whose target copies input axes (code ``0``) its known output shape.

    What ``0`` copies depends on the input, which onnxsim's Reshape fusion
    changes; explicit sizes stay right whatever comes before.
    """
    from onnx import numpy_helper
    shapes = _static_shapes(model)
    for node in model.graph.node:
        if node.op_type != "Reshape" or node.output[0] not in shapes:
            continue
        target = _constant(model, node.input[1])
        if target is None or 0 not in target or _attr(node, "allowzero", 0):
            continue
        name = f"{node.output[0]}__static_shape"
        model.graph.initializer.append(
            numpy_helper.from_array(np.array(shapes[node.output[0]], np.int64), name))
        node.input[1] = name  # a new constant: the old target may be shared with other nodes


def _onehot_to_gather(model):
    """Replace ``OneHot`` with constant depth and values by a row lookup in a constant table.

    ONNX shape inference leaves OneHot's depth axis unknown, so nothing after
    it folds; ``Gather(off + (on - off) * eye(depth), ids)`` has the same
    values (for ids in range) and a static shape.
    """
    from onnx import helper, numpy_helper
    consts = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    nodes = model.graph.node
    for i, node in enumerate(list(nodes)):
        if node.op_type != "OneHot" or node.input[1] not in consts or node.input[2] not in consts:
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), -1)
        if axis != -1:
            continue
        depth = int(np.asarray(consts[node.input[1]]).reshape(-1)[0])
        off, on = np.asarray(consts[node.input[2]]).reshape(-1)[:2]
        table = (off + (on - off) * np.eye(depth)).astype(consts[node.input[2]].dtype)
        name = f"{node.output[0]}__table"
        model.graph.initializer.append(numpy_helper.from_array(table, name))
        gather = helper.make_node("Gather", [name, node.input[0]], list(node.output), axis=0,
                                  name=node.name or f"{node.output[0]}__gather")
        nodes.remove(node)
        nodes.insert(i, gather)


def _static_shapes(model):
    shapes = {}
    for value in list(model.graph.value_info) + list(model.graph.input) + \
            list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = [d.dim_value for d in dims]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def _static_unsqueeze_to_reshape(model):
    """Replace every ``Unsqueeze`` whose output shape is known with a ``Reshape``."""
    from onnx import helper, numpy_helper
    shapes = _static_shapes(model)
    nodes = model.graph.node
    for i, node in enumerate(list(nodes)):
        if node.op_type != "Unsqueeze" or node.output[0] not in shapes:
            continue
        target = f"{node.output[0]}__static_shape"
        model.graph.initializer.append(
            numpy_helper.from_array(np.array(shapes[node.output[0]], np.int64), target))
        reshape = helper.make_node("Reshape", [node.input[0], target], list(node.output),
                                   name=node.name or f"{node.output[0]}__reshape")
        nodes.remove(node)
        nodes.insert(i, reshape)


def _collapse_padded_transposes(model):
    """Turn MXNet's ``swapaxes`` (Reshape to 8-D, Transpose, Reshape back) into one Transpose.

    onnx2tf cannot tell the layout of the 8-D tensor in between and fails;
    the plain Transpose of the same axes converts.
    """
    from onnx import helper, numpy_helper
    shapes = _static_shapes(model)
    consumers = _consumers(model)
    nodes = model.graph.node
    for pad in list(nodes):
        if pad.op_type != "Reshape" or pad.input[0] not in shapes:
            continue
        after = consumers.get(pad.output[0], [])
        if len(after) != 1 or after[0].op_type != "Transpose":
            continue
        transpose = after[0]
        after = consumers.get(transpose.output[0], [])
        if len(after) != 1 or after[0].op_type != "Reshape" or after[0].output[0] not in shapes:
            continue
        back = after[0]
        padded, perm = shapes.get(pad.output[0]), list(_attr(transpose, "perm"))
        if padded is None:
            continue
        rank = len(padded)
        while rank > 1 and padded[rank - 1] == 1 and perm[rank - 1] == rank - 1:
            rank -= 1
        if perm[rank:] != list(range(rank, len(perm))) or \
                [padded[p] for p in perm[:rank]] != shapes[back.output[0]]:
            continue
        i = list(nodes).index(pad)
        new, source = [], pad.input[0]
        if shapes[source] != padded[:rank]:  # MXNet's reshape before the swap, folded in
            target = f"{back.output[0]}__unpadded_shape"
            model.graph.initializer.append(numpy_helper.from_array(
                np.array(padded[:rank], np.int64), target))
            new.append(helper.make_node("Reshape", [source, target],
                                        [f"{back.output[0]}__unpadded"],
                                        name=f"{back.output[0]}__reshape"))
            source = new[-1].output[0]
        new.append(helper.make_node("Transpose", [source], list(back.output), perm=perm[:rank],
                                    name=transpose.name or f"{back.output[0]}__transpose"))
        for node in (pad, transpose, back):
            nodes.remove(node)
        for k, node in enumerate(new):
            nodes.insert(i + k, node)


def _unstack_concat_slices(model):
    """Read the pieces of a ``Concat`` from its inputs where a Split or Slice takes them apart.

    A stack of per-layer states ``(layers, N, H)`` built by ``Concat`` on
    axis 0 and split again by the decoder (MXNet's ``stack`` then
    ``split``/``slice_axis``) has batch-sized leading pieces; onnx2tf
    concatenates them on another axis, and the Split then fails (or a Slice
    reads other numbers).  A Split or Slice on the Concat's axis whose pieces
    are exactly some of its inputs becomes Identities of those inputs.
    """
    from onnx import helper
    shapes = _static_shapes(model)
    consumers = _consumers(model)
    nodes = model.graph.node
    for concat in list(nodes):
        bounds = _concat_bounds(concat, shapes)
        if bounds is None:
            continue
        axis, size = _attr(concat, "axis"), bounds[-1][1]
        for user in consumers.get(concat.output[0], []):
            pieces = _taken_pieces(model, user, axis, size, shapes)
            sources = [bounds.index(p) if p in bounds else None for p in pieces or []]
            if not pieces or None in sources:
                continue
            i = list(nodes).index(user)
            nodes.remove(user)
            for k, (out, src) in enumerate(zip(user.output, sources)):
                nodes.insert(i + k, helper.make_node("Identity", [concat.input[src]], [out],
                                                     name=f"{out}__unstacked"))


# Ops whose outputs are never negative: zeros are then an exact padding for max pooling.
_NON_NEGATIVE = {"Relu", "Sigmoid", "Softplus", "Softmax", "Abs", "Exp"}


def _finite_maxpool_padding(model):
    """Give every padded ``MaxPool`` an explicit ``Pad`` of finite values before it.

    A max-pooling window that holds at least one element of the input (ONNX
    requires pads smaller than the kernel) and is contiguous (no dilation)
    reaches the input's edge whenever it holds padding, so padding with a
    copy of the edge does not change its maximum; neither do zeros after a
    ReLU.  ``ceil_mode`` and dilated pools are left as they are.
    """
    from onnx import helper, numpy_helper
    producers = {out: node for node in model.graph.node for out in node.output}
    nodes = model.graph.node
    for pool in list(nodes):
        pads = _attr(pool, "pads")
        if pool.op_type != "MaxPool" or not pads or not any(pads) \
                or _attr(pool, "auto_pad", "NOTSET") != "NOTSET" or _attr(pool, "ceil_mode", 0) \
                or any(d != 1 for d in _attr(pool, "dilations", [1])) or len(pool.output) != 1:
            continue
        half = len(pads) // 2
        name = pool.output[0]
        target = f"{name}__pads"
        model.graph.initializer.append(numpy_helper.from_array(
            np.array([0, 0] + list(pads[:half]) + [0, 0] + list(pads[half:]), np.int64), target))
        source = producers.get(pool.input[0])
        low = _constant_value(model, source.input[1]) \
            if source is not None and source.op_type == "Clip" and len(source.input) > 1 else None
        non_negative = source is not None and (source.op_type in _NON_NEGATIVE
                                               or (low is not None and low >= 0))
        pad = helper.make_node("Pad", [pool.input[0], target], [f"{name}__padded"],
                               name=f"{name}__pad", mode="constant" if non_negative else "edge")
        attrs = {a.name: helper.get_attribute_value(a) for a in pool.attribute
                 if a.name != "pads"}
        unpadded = helper.make_node("MaxPool", [pad.output[0]], list(pool.output),
                                    name=pool.name or f"{name}__maxpool", **attrs)
        i = list(nodes).index(pool)
        nodes.remove(pool)
        nodes.insert(i, unpadded)
        nodes.insert(i, pad)


def _constant_value(model, name):
    """The scalar float initializer ``name`` (None when it is not one)."""
    from onnx import numpy_helper
    for init in model.graph.initializer:
        if init.name == name and int(np.prod(init.dims)) == 1:
            return float(numpy_helper.to_array(init).reshape(-1)[0])
    return None


def _concat_bounds(concat, shapes):
    """``[(begin, end)]`` of each input of ``concat`` along its axis, or None if not static."""
    if concat.op_type != "Concat" or any(name not in shapes for name in concat.input):
        return None
    rank = len(shapes[concat.input[0]])
    axis = _attr(concat, "axis") % rank
    bounds, begin = [], 0
    for name in concat.input:
        bounds.append((begin, begin + shapes[name][axis]))
        begin = bounds[-1][1]
    return bounds if _attr(concat, "axis") == axis else None


def _taken_pieces(model, node, axis, size, shapes):
    """``[(begin, end)]`` along ``axis`` of each output of a Split or Slice ``node``, or None."""
    if node.op_type == "Split" and _attr(node, "axis", 0) == axis:
        sizes = _constant(model, node.input[1]) if len(node.input) > 1 and node.input[1] \
            else _attr(node, "split")
        if sizes is None:
            if size % len(node.output):
                return None
            sizes = [size // len(node.output)] * len(node.output)
        ends = np.cumsum(sizes).tolist()
        return [(end - s, end) for s, end in zip(sizes, ends)]
    if node.op_type != "Slice" or len(node.input) < 4:
        return None
    starts, ends, axes = (_constant(model, name) for name in node.input[1:4])
    steps = _constant(model, node.input[4]) if len(node.input) > 4 and node.input[4] else [1]
    if None in (starts, ends, axes, steps) or len(starts) != 1 or steps != [1] \
            or axes[0] != axis:
        return None
    begin, end = (min(max(v + size if v < 0 else v, 0), size) for v in (starts[0], ends[0]))
    return [(begin, end)]


def _consumers(model):
    found = {}
    for node in model.graph.node:
        for name in node.input:
            found.setdefault(name, []).append(node)
    return found


# Gates per cell, in ONNX's weight order, and the default activations.
_CELLS = {"RNN": (1, ["Tanh"]), "GRU": (3, ["Sigmoid", "Tanh"]),
          "LSTM": (4, ["Sigmoid", "Tanh", "Tanh"])}


class _Builder:
    """Appends nodes and constants under unique names derived from one prefix."""

    def __init__(self, model, prefix):
        self.model, self.prefix, self.nodes, self._count = model, prefix, [], 0
        self.dropped = []  # consumers whose outputs the new nodes compute directly

    def name(self, hint):
        self._count += 1
        return f"{self.prefix}__{hint}{self._count}"

    def const(self, array, hint="c"):
        from onnx import numpy_helper
        name = self.name(hint)
        self.model.graph.initializer.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, output=None, **attrs):
        from onnx import helper
        output = output or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [output],
                                           name=self.name(op_type), **attrs))
        return output


def _unroll_recurrent(model):
    """Rewrite ONNX ``RNN``/``GRU``/``LSTM`` nodes as their per-step equations.

    onnx2tf's converters for these nodes misread the layout of their 3-D
    weights (the conversion fails, or computes other numbers); MatMul, Add
    and the activations of the unrolled steps convert exactly, and quantize
    like any dense layer.  Needs the static sequence length and batch that
    :func:`prepare` fixes; nodes it cannot rewrite are left to onnx2tf.
    """
    from onnx import numpy_helper
    if not any(node.op_type in _CELLS for node in model.graph.node):
        return
    shapes = _static_shapes(model)
    consts = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in list(model.graph.node):
        if node.op_type in _CELLS and _unrollable(node, shapes, consts):
            b = _unrolled(model, node, shapes, consts)
            _replace(model, node, b.nodes)
            for old in b.dropped:
                model.graph.node.remove(old)


def _attr(node, name, default=None):
    from onnx import helper
    for a in node.attribute:
        if a.name == name:
            value = helper.get_attribute_value(a)
            return [v.decode() if isinstance(v, bytes) else v for v in value] \
                if isinstance(value, list) else (value.decode() if isinstance(value, bytes)
                                                 else value)
    return default


def _unrollable(node, shapes, consts):
    inputs = list(node.input) + [""] * (8 - len(node.input))
    if inputs[0] not in shapes or any(n not in consts for n in inputs[1:3]):
        return False
    if _attr(node, "layout", 0) != 0 or _attr(node, "clip") is not None \
            or _attr(node, "input_forget", 0) or inputs[7]:
        return False
    gates, defaults = _CELLS[node.op_type]
    activations = _attr(node, "activations")
    directions = 2 if _attr(node, "direction", "forward") == "bidirectional" else 1
    if activations is not None and activations != defaults * directions:
        return False
    if inputs[3] and inputs[3] not in consts:
        return False
    seq_len, batch = shapes[inputs[0]][:2]
    if inputs[4]:  # sequence lengths: only "every sequence is full" unrolls to the same steps
        if inputs[4] not in consts or not np.all(consts[inputs[4]] == seq_len):
            return False
    return all(not inputs[i] or inputs[i] in shapes for i in (5, 6))


def _unrolled(model, node, shapes, consts):
    """A builder holding the nodes that compute ``node``'s outputs step by step."""
    b = _Builder(model, node.name or node.output[0])
    inputs = list(node.input) + [""] * (8 - len(node.input))
    gates, _ = _CELLS[node.op_type]
    hidden = int(_attr(node, "hidden_size"))
    direction = _attr(node, "direction", "forward")
    num_dirs = 2 if direction == "bidirectional" else 1
    seq_len, batch = shapes[inputs[0]][:2]
    W, R = consts[inputs[1]], consts[inputs[2]]
    B = consts[inputs[3]] if inputs[3] else np.zeros((num_dirs, 2 * gates * hidden), W.dtype)
    ys, hs, cs = [], [], []
    for d in range(num_dirs):
        reverse = direction == "reverse" or d == 1
        h0 = _initial(b, inputs[5], d, batch, hidden, W.dtype)
        c0 = _initial(b, inputs[6], d, batch, hidden, W.dtype) if node.op_type == "LSTM" \
            else None
        steps, h, c = _direction(b, node, inputs[0], W[d], R[d], B[d], h0, c0, seq_len, reverse,
                                 hidden)
        # (T * B, H) -> (T, B, H): a 2-D concatenation keeps onnx2tf's layout plain
        ys.append(b.op("Reshape", [b.op("Concat", steps, axis=0),
                                   b.const(np.array([seq_len, batch, hidden], np.int64))]))
        hs.append(h)
        cs.append(c)
    outputs = list(node.output) + [""] * (3 - len(node.output))
    if outputs[0]:
        _sequence_output(b, model, outputs[0], ys, seq_len, batch, hidden)
    for out, finals in ((outputs[1], hs), (outputs[2], cs)):
        if out:
            b.op("Reshape", [b.op("Concat", finals, axis=0) if num_dirs > 1 else finals[0],
                             b.const(np.array([num_dirs, batch, hidden], np.int64))], out)
    return b


def _sequence_output(b, model, name, ys, seq_len, batch, hidden):
    """Produce ``Y`` (T, D, B, H), or directly what its one consumer makes of it.

    MXNet follows ``Y`` with ``Squeeze(axis 1)`` (one direction) or
    ``Transpose(0, 2, 1, 3) -> Reshape (T, B, 2H)`` (two); onnx2tf takes the
    4-D ``Y`` for an image and transposes it, so those consumers are replaced
    by the equivalent 3-D result.
    """
    consumers = _consumers(model).get(name, [])
    if len(consumers) == 1 and len(ys) == 1 and consumers[0].op_type == "Squeeze" \
            and _squeeze_axes(model, consumers[0]) == [1]:
        b.op("Identity", [ys[0]], consumers[0].output[0])
        b.dropped.append(consumers[0])
        return
    if len(consumers) == 1 and len(ys) == 2 and consumers[0].op_type == "Transpose" \
            and list(_attr(consumers[0], "perm")) == [0, 2, 1, 3]:
        after = _consumers(model).get(consumers[0].output[0], [])
        if len(after) == 1 and after[0].op_type == "Reshape" \
                and _constant(model, after[0].input[1]) == [seq_len, batch, 2 * hidden]:
            b.op("Concat", ys, after[0].output[0], axis=2)
            b.dropped.extend([consumers[0], after[0]])
            return
    axis = b.const(np.array([1], np.int64))
    stacked = [b.op("Unsqueeze", [y, axis]) for y in ys]
    b.op("Concat", stacked, name, axis=1) if len(ys) > 1 else b.op("Identity", stacked, name)


def _squeeze_axes(model, node):
    if len(node.input) > 1:
        return _constant(model, node.input[1])
    return list(_attr(node, "axes", []))


def _constant(model, name):
    """The integer initializer ``name`` as a list (None when it is not one)."""
    from onnx import numpy_helper
    for init in model.graph.initializer:
        if init.name == name:
            return [int(a) for a in numpy_helper.to_array(init).reshape(-1)]
    return None


def _initial(b, name, d, batch, hidden, dtype):
    if not name:
        return b.const(np.zeros((batch, hidden), dtype), "zeros")
    return b.op("Gather", [name, b.const(np.array(d, np.int64))], axis=0)


def _direction(b, node, X, W, R, B, h, c, seq_len, reverse, hidden):
    """Unroll one direction; return the per-step outputs (each ``(B, H)``) and final states."""
    gates = _CELLS[node.op_type][0]
    n = gates * hidden
    Wb, Rb = B[:n], B[n:]
    gru_lbr = node.op_type == "GRU" and _attr(node, "linear_before_reset", 0)
    if node.op_type == "GRU":
        # the candidate's recurrent bias stays inside the reset gate's product
        x_bias = np.concatenate([Wb[:2 * hidden] + Rb[:2 * hidden], Wb[2 * hidden:]])
    else:
        x_bias = Wb + Rb
    xw = b.op("Add", [b.op("MatMul", [X, b.const(W.T.copy())]), b.const(x_bias)])  # (T, B, n)
    Rt = R.T.copy()
    split = b.const(np.array([hidden] * gates, np.int64))
    steps = [None] * seq_len
    order = range(seq_len - 1, -1, -1) if reverse else range(seq_len)
    for t in order:
        x_t = b.op("Gather", [xw, b.const(np.array(t, np.int64))], axis=0)   # (B, n)
        if node.op_type == "GRU":
            h = _gru_step(b, x_t, h, Rt, Rb, hidden, gru_lbr, split)
        else:
            x_gates = _split(b, x_t, split, gates)
            h_gates = _split(b, b.op("MatMul", [h, b.const(Rt)]), split, gates)
            pre = [b.op("Add", [x, r]) for x, r in zip(x_gates, h_gates)]
            if node.op_type == "RNN":
                h = b.op("Tanh", pre)
            else:
                h, c = _lstm_step(b, pre, c)
        steps[t] = h
    return steps, h, c


def _split(b, x, split, gates):
    if gates == 1:
        return [x]
    from onnx import helper
    outs = [b.name("gate") for _ in range(gates)]
    b.nodes.append(helper.make_node("Split", [x, split], outs, axis=1, name=b.name("Split")))
    return outs


def _lstm_step(b, pre, c):
    i, o, f, g = pre  # ONNX's gate order: input, output, forget, cell
    i, o, f = (b.op("Sigmoid", [v]) for v in (i, o, f))
    c = b.op("Add", [b.op("Mul", [f, c]), b.op("Mul", [i, b.op("Tanh", [g])])])
    return b.op("Mul", [o, b.op("Tanh", [c])]), c


def _gru_step(b, x_t, h, Rt, Rb, hidden, linear_before_reset, split):
    xz, xr, xh = _split(b, x_t, split, 3)
    rz = b.op("MatMul", [h, b.const(Rt[:, :2 * hidden].copy())])
    hz, hr = _split(b, rz, b.const(np.array([hidden, hidden], np.int64)), 2)
    z = b.op("Sigmoid", [b.op("Add", [xz, hz])])
    r = b.op("Sigmoid", [b.op("Add", [xr, hr])])
    Rh = b.const(Rt[:, 2 * hidden:].copy())
    if linear_before_reset:
        hh = b.op("Add", [b.op("MatMul", [h, Rh]), b.const(Rb[2 * hidden:])])
        cand = b.op("Tanh", [b.op("Add", [xh, b.op("Mul", [r, hh])])])
    else:
        hh = b.op("MatMul", [b.op("Mul", [r, h]), Rh])
        cand = b.op("Tanh", [b.op("Add", [b.op("Add", [xh, hh]), b.const(Rb[2 * hidden:])])])
    # h' = (1 - z) * cand + z * h = cand + z * (h - cand)
    return b.op("Add", [cand, b.op("Mul", [z, b.op("Sub", [h, cand])])])


def _replace(model, node, new_nodes):
    nodes = model.graph.node
    i = list(nodes).index(node)
    nodes.remove(node)
    for k, new in enumerate(new_nodes):
        nodes.insert(i + k, new)
