"""Which weights of a Gluon network are prunable: one table plus a protocol.

``PRUNABLE_WEIGHTS`` maps Gluon layer classes to shell-style patterns of the
parameter names they register (as TF-MOT's ``prune_registry.py`` maps Keras
layers).  Biases, normalization layers (BatchNorm, LayerNorm, ...) and
embeddings are deliberately absent: pruning them costs accuracy and saves
almost nothing.  Subclasses of a listed class inherit its entry.

A custom block opts in by defining ``get_prunable_weights()`` that returns a
list of :class:`mxnet.gluon.Parameter`, or a dict that names them
``{"layer_path.name": Parameter}`` (a graph-level block such as a
channel-pruned network keeps its original layer paths that way, so patterns
like ``"features.0"`` still find them).  Its answer is complete for its whole
subtree: the walk does not descend into its children, so return the
children's weights too if they should be pruned, or ``[]`` to opt out.
"""
import collections.abc
import fnmatch
import types

from mxnet import gluon
from mxnet.gluon import nn, rnn

from gluon_dl.errors import ArgumentTypeError
from gluon_dl.models.rnn_scratch import ScratchRNNLM

_RNN_LAYER_WEIGHTS = ("*_i2h_weight", "*_h2h_weight", "*_h2r_weight")
_RNN_CELL_WEIGHTS = ("i2h_weight", "h2h_weight")

PRUNABLE_WEIGHTS = types.MappingProxyType({
    nn.Dense: ("weight",),
    nn.Conv1D: ("weight",),
    nn.Conv2D: ("weight",),
    nn.Conv3D: ("weight",),
    nn.Conv1DTranspose: ("weight",),
    nn.Conv2DTranspose: ("weight",),
    nn.Conv3DTranspose: ("weight",),
    rnn.RNN: _RNN_LAYER_WEIGHTS,
    rnn.LSTM: _RNN_LAYER_WEIGHTS,
    rnn.GRU: _RNN_LAYER_WEIGHTS,
    rnn.RNNCell: _RNN_CELL_WEIGHTS,
    rnn.LSTMCell: _RNN_CELL_WEIGHTS,
    rnn.GRUCell: _RNN_CELL_WEIGHTS,
    # The course's from-scratch language models declare their gate matrices
    # directly (W_xh, W_hh, ..., W_hq): weights of the same products as a
    # gluon.rnn layer's i2h/h2h and the dense output's, so pruned alike.
    ScratchRNNLM: ("W_*",),
})

PROTOCOL_METHOD = "get_prunable_weights"


def _table_patterns(block):
    for klass in type(block).__mro__:
        if klass in PRUNABLE_WEIGHTS:
            return PRUNABLE_WEIGHTS[klass]
    return ()


def prunable_weight_names(block):
    """Names (keys of ``block._reg_params``) of the table-listed weights of one block.

    Parameters
    ----------
    block : mxnet.gluon.Block
        A single layer; its children are not looked at.

    Returns
    -------
    list of str
        In registration order; empty for layers the table does not list.
    """
    patterns = _table_patterns(block)
    return [name for name in block._reg_params
            if any(fnmatch.fnmatchcase(name, pat) for pat in patterns)]


def _join(path, name):
    return f"{path}.{name}" if path else str(name)


def _locate(block, path, param):
    """``(layer_path, name)`` of ``param`` inside ``block``'s subtree, by identity."""
    for name, candidate in block._reg_params.items():
        if candidate is param:
            return path, name
    for child_name, child in block._children.items():
        found = _locate(child, _join(path, child_name), param)
        if found is not None:
            return found
    return None


def _protocol_weights(block, path):
    params = getattr(block, PROTOCOL_METHOD)()
    if isinstance(params, collections.abc.Mapping):
        return [_named_entry(block, path, key, param) for key, param in params.items()]
    if isinstance(params, (str, bytes)) or not hasattr(params, "__iter__"):
        raise ArgumentTypeError(f"{type(block).__name__} at '{path or '<root>'}': "
                        f"{PROTOCOL_METHOD}() must return a list of Parameters, got {params!r}")
    entries = []
    for param in params:
        if not isinstance(param, gluon.Parameter):
            raise ArgumentTypeError(f"{type(block).__name__} at '{path or '<root>'}': "
                            f"{PROTOCOL_METHOD}() returned {param!r}, not a gluon.Parameter")
        layer, name = _locate(block, path, param) or (path, param.name)
        entries.append((layer, name, param))
    return entries


def _named_entry(block, path, key, param):
    """``(layer_path, name, param)`` of a ``{"layer.name": Parameter}`` protocol entry."""
    if not isinstance(param, gluon.Parameter) or not isinstance(key, str) or "." not in key:
        raise ArgumentTypeError(f"{type(block).__name__} at '{path or '<root>'}': "
                                f"{PROTOCOL_METHOD}() maps {key!r} to {param!r}; a dict maps "
                                f"'layer_path.name' keys to gluon.Parameters")
    layer, name = key.rsplit(".", 1)
    return _join(path, layer), name, param


def _collect(block, path, out, seen):
    opted_in = callable(getattr(block, PROTOCOL_METHOD, None))
    if opted_in:
        entries = _protocol_weights(block, path)
    else:
        entries = [(path, name, block._reg_params[name]) for name in prunable_weight_names(block)]
    for layer, name, param in entries:
        if id(param) not in seen:  # a shared parameter is pruned once
            seen.add(id(param))
            out.append((layer, name, param))
    if opted_in:  # the protocol's answer covers the whole subtree
        return
    for child_name, child in block._children.items():
        _collect(child, _join(path, child_name), out, seen)


def named_prunable_parameters(net):
    """Every prunable weight of ``net`` as ``(layer_path, name, Parameter)``.

    Parameters
    ----------
    net : mxnet.gluon.Block
        The network; its children are walked depth first in registration
        order, so the order is stable across instances of one architecture.

    Returns
    -------
    list of tuple
        ``layer_path`` is the dotted path of attribute names / Sequential
        indices from ``net`` (``"features.0"``; ``""`` for ``net`` itself),
        ``name`` the parameter's key in that layer (``"weight"``), so
        ``f"{layer_path}.{name}"`` is a key that does not depend on Gluon's
        instance-counting prefixes.
    """
    if not isinstance(net, gluon.Block):
        raise ArgumentTypeError(f"expected a gluon Block, got {type(net).__name__}")
    out = []
    _collect(net, "", out, set())
    return out


def prunable_parameters(net):
    """Every prunable weight of ``net`` as ``(layer_path, Parameter)``.

    See :func:`named_prunable_parameters` for the walk order and paths.
    """
    return [(layer, param) for layer, _, param in named_prunable_parameters(net)]
