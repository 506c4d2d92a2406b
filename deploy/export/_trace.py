"""Tracing a Gluon block from its config: every input of ``config.inputs``, every output.

A block is run once on inputs shaped and typed as its config says, so the
graph that every format converts has the config's input names, shapes and
dtypes.  A block that cannot be traced fails with a ConversionError that
names the layer and the operator, never with a raw ``TypeError`` from deep
inside MXNet.
"""
import dataclasses
import json
import re
from typing import Tuple

import numpy as np

from gluon_dl.errors import ArgumentError, ConversionError


@dataclasses.dataclass(frozen=True)
class Trace:
    """A block's graph: its symbol, input names (call order) and output names (MXNet's order)."""

    symbol: object
    input_names: Tuple[str, ...]
    output_names: Tuple[str, ...]

    @property
    def operators(self):
        """``[(node name, operator)]`` of the graph's computing nodes."""
        nodes = json.loads(self.symbol.tojson())["nodes"]
        return [(n["name"], n["op"]) for n in nodes if n["op"] != "null"]


def trace(net, config):
    """Hybridize ``net`` and run it once on ``config.inputs`` if it never ran; its Trace.

    Raises
    ------
    ArgumentError
        For a plain Block, or a block whose inputs are not the config's.
    ConversionError
        When the forward pass fails on symbols; names the layer and operator.
    """
    import mxnet as mx
    if getattr(net, "_cached_op", None) is None or not getattr(net, "_cached_graph", None):
        if not isinstance(net, mx.gluon.HybridBlock):
            raise ArgumentError(f"{type(net).__name__} did not build a graph: export needs a "
                                f"HybridBlock (a plain Block cannot be exported)")
        if not isinstance(net, mx.gluon.SymbolBlock) and not net._active:
            net.hybridize()
        _first_forward(net, config)
    if not getattr(net, "_cached_graph", None):
        raise ArgumentError(f"{type(net).__name__} did not build a graph: export needs a "
                            f"HybridBlock (a plain Block cannot be exported)")
    inputs, sym = net._cached_graph
    names = tuple(s.name for s in inputs)
    if list(names) != config.input_names:
        raise ArgumentError(
            f"{type(net).__name__} takes the inputs {list(names)}, its config "
            f"'{config.name}' describes {config.input_names}; the config's inputs "
            f"(input_name, extra_inputs) must name the block's inputs in call order")
    return Trace(sym, names, tuple(sym.list_outputs()))


def placeholder_inputs(config, batch=1):
    """One batch per input of ``config``: the low end of each input's value range."""
    return [np.full((batch,) + tuple(spec.shape), spec.value_range[0], dtype=spec.dtype)
            for spec in config.inputs]


def _first_forward(net, config):
    import mxnet as mx
    # Batch 2, not 1: after a first forward at batch 1, MXNet 1.9.1's oneDNN
    # Deconvolution fails at every other batch size (IOLogicalSwapDesc), and the
    # exporters verify at several; a first batch above 1 leaves later ones free.
    arrays = [mx.nd.array(x, dtype=x.dtype) for x in placeholder_inputs(config, batch=2)]
    try:
        net(*arrays)
        # Let the pass finish before the exporters read the weights: in inference MXNet's
        # oneDNN reorders convolution weights in place, in an engine task the convolution
        # queues, and a host read that starts before it runs can see them half reordered.
        mx.nd.waitall()
    except TypeError as exc:
        if _is_call_mismatch(exc):
            raise ArgumentError(
                f"{type(net).__name__} cannot be called with the {len(arrays)} inputs "
                f"{config.input_names} its config '{config.name}' describes ({exc}); fix the "
                f"config's extra_inputs") from None
        raise blame(exc, net, "tracing") from exc
    except (AttributeError, AssertionError, IndexError, KeyError, NotImplementedError,
            ValueError, mx.MXNetError) as exc:  # what MXNet raises for ops symbols lack
        raise blame(exc, net, "tracing") from exc


def _is_call_mismatch(exc):
    text = str(exc)
    return "positional argument" in text and "forward()" in text


def blame(exc, net, stage, traced=None):
    """A ConversionError for ``exc`` naming the layer and the operator at fault.

    The operator is the graph node MXNet names ("Error in operator ...") or
    the node mx2onnx was converting (its local ``node``); the layer is the
    Gluon block whose prefix that node carries, or else the innermost block on
    the traceback.
    """
    layer, operator = _culprits(exc, net, traced)
    where = []
    if operator:
        where.append(f"operator {operator}")
    if layer:
        where.append(f"layer {layer}")
    detail = " ".join(str(exc).split()) or type(exc).__name__
    detail = detail if len(detail) <= 300 else detail[:297] + "..."
    return ConversionError(
        f"{stage} {type(net).__name__} failed" + (f" at {' in '.join(where)}" if where else "")
        + f": {detail}. Rewrite that layer with exportable operators (explicit reshape sizes "
          f"instead of -3/-4, broadcasting instead of repeat)")


def _culprits(exc, net, traced):
    import mxnet as mx
    layer = operator = node_name = None
    match = re.search(r"Error in operator (\S+?):", str(exc))
    if match:
        node_name = match.group(1)
    tb = exc.__traceback__
    while tb is not None:
        local = tb.tb_frame.f_locals
        block = local.get("self")
        if isinstance(block, mx.gluon.Block):
            layer = f"'{block.name}' ({type(block).__name__})"
        node = local.get("node")
        if node_name is None and isinstance(node, dict) and "op" in node and "name" in node:
            node_name, operator = node["name"], node["op"]
        elif node_name is None and tb.tb_frame.f_globals.get("__name__", "").startswith(
                "mxnet.symbol"):
            operator = tb.tb_frame.f_code.co_name  # the Symbol method or operator called
        tb = tb.tb_next
    if node_name is not None:
        ops = dict(traced.operators) if traced is not None else {}
        operator = f"{operator or ops.get(node_name, '?')} (node {node_name})"
        owner = _owner(net, node_name)
        if owner is not None:
            layer = f"'{owner.name}' ({type(owner).__name__})"
    return layer, operator


def _owner(net, node_name):
    """The innermost block of ``net`` whose prefix starts ``node_name``."""
    best, stack = None, [net]
    while stack:
        block = stack.pop()
        prefix = getattr(block, "prefix", "")
        if prefix and node_name.startswith(prefix):
            if best is None or len(prefix) > len(best.prefix):
                best = block
        stack.extend(block._children.values())
    return best
