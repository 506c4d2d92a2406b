"""BatchNorm followed by ReLU as oneDNN's fused ``BatchNormWithReLU``, in the training graph.

MXNet 1.9.1 has ``_contrib_BatchNormWithReLU``: oneDNN's batch normalization
with the ReLU applied in the same pass, forward and backward, whose outputs
and gradients equal ``BatchNorm`` then ``relu`` (the ReLU's backward reads
the normalized output it keeps).  One pass over the activations instead of
two: CIFAR ResNet-20 trained 1.07-1.08x faster on an AVX-512 host (two
threads, quiet, interleaved rounds; see benchmarks/README.md).

:func:`fuse` rewrites each BatchNorm whose only reader is a ReLU.  ``fit``
applies it to its fused training graph on CPU contexts with
``fit(..., bn_relu=True)`` (:func:`wanted`).  It is not on by default:
oneDNN 2.4's fused backward lacks kernels for some of the zoo's layers
(MobileNet 0.75's training step fails with "could not create a primitive
descriptor iterator"), and the gain is 7-8%.  The parameters (gamma, beta,
running mean and variance) are the BatchNorm's own, so checkpoints and
exported graphs never change.
"""
import json

from ..errors import ArgumentError

FUSED_OP = "_contrib_BatchNormWithReLU"


def check(setting):
    """Refuse a ``bn_relu`` that is not True or False."""
    if not isinstance(setting, bool):
        raise ArgumentError(f"bn_relu must be True or False, got {setting!r}")


def available():
    """Whether this MXNet has oneDNN (the fused operator's only implementation)."""
    import mxnet as mx
    try:
        return bool(mx.runtime.Features().is_enabled("MKLDNN"))
    except Exception:  # noqa: BLE001 - a build without the feature list: assume not
        return False


def wanted(setting, context):
    """Whether ``fit``'s training graph on ``context`` fuses BatchNorm and ReLU.

    ``True`` on CPU contexts when MXNet has oneDNN (the operator's only
    implementation); ``False``, and GPU graphs, never.
    """
    return bool(setting) and context.device_type == "cpu" and available()


def _is_relu(node):
    return node["op"] == "relu" or (node["op"] == "Activation"
                                    and node.get("attrs", {}).get("act_type") == "relu")


def _is_global_pooling(node):
    return node["op"] == "Pooling" and \
        node.get("attrs", {}).get("global_pool", "False") in ("True", "1")


def fuse(sym):
    """``sym`` with each BatchNorm whose only reader is a ReLU run as ``BatchNormWithReLU``.

    Returns ``sym`` itself when there is none.  BatchNorms whose output is
    also a graph output, or read by anything else, are left alone, and so are
    those whose ReLU feeds a global pooling: oneDNN 2.4 has no fused backward
    for the gradient that pooling hands back ("could not create a primitive
    descriptor iterator"; ``fit`` computes such poolings as a mean on AVX-512,
    see ``_global_pool``, and the pair is fused there).
    """
    import mxnet as mx

    graph = json.loads(sym.tojson(remove_amp_cast=False))  # keep mixed precision's casts
    nodes, heads = graph["nodes"], graph["heads"]
    readers = {}
    for nid, node in enumerate(nodes):
        for src, idx, _ in node["inputs"]:
            readers.setdefault((src, idx), []).append(nid)
    head_entries = {tuple(h[:2]) for h in heads}
    fused = {}  # relu node id -> batch norm node id
    for nid, node in enumerate(nodes):
        users = readers.get((nid, 0), [])
        if node["op"] != "BatchNorm" or len(users) != 1 or (nid, 0) in head_entries:
            continue
        if _is_relu(nodes[users[0]]) and not any(
                _is_global_pooling(nodes[r]) for r in readers.get((users[0], 0), [])):
            node["op"] = FUSED_OP
            fused[users[0]] = nid
    if not fused:
        return sym
    new_id, kept = {}, []
    for nid, node in enumerate(nodes):
        if nid in fused:
            continue
        new_id[nid] = len(kept)
        kept.append(node)

    def moved(entry):  # a reader of a ReLU now reads the fused node's first output
        src = fused.get(entry[0], entry[0])
        return [new_id[src], entry[1] if src == entry[0] else 0, 0]

    for node in kept:
        node["inputs"] = [moved(e) for e in node["inputs"]]
    graph["nodes"], graph["heads"] = kept, [moved(h) for h in heads]
    graph["arg_nodes"] = [i for i, n in enumerate(kept) if n["op"] == "null"]
    graph.pop("node_row_ptr", None)
    return mx.sym.load_json(json.dumps(graph))
