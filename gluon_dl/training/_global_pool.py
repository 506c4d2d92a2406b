"""Global average pooling as a mean over the spatial axes, in the training graph.

On AVX-512, MXNet 1.9.1's oneDNN 2.4.4 gives the backward pass of a global
average pooling (``GlobalAvgPool2D``: ``(N, C, H, W) -> (N, C, 1, 1)``) its
gradient in the layout ``acdB16b``: for a 1x1 output that layout equals the
usual 16-channel blocks, but the gradient it writes back, ``(N, C, H, W)``,
keeps it, and oneDNN has no JIT kernel for it.  The pooling's backward and
every batch normalization's backward that this gradient reaches (through
the residual additions: four of ResNet-20's last stage) then run oneDNN's
reference kernels, ``pooling ref:any`` and ``bnorm_ref:any``: most of a
CIFAR ResNet's training step.  With AVX2 (8-channel blocks) the same layers
run JIT kernels.

:func:`as_mean` rewrites such a pooling into ``mean(axis=(2, 3),
keepdims=True)``, the same value (up to float rounding order), whose
gradient is a broadcast in the plain layout, which oneDNN's JIT kernels
take.  ``fit`` applies it to its fused training graph on CPU contexts, by
default on CPUs with AVX-512 (:func:`worthwhile`; ``fit(...,
pool_as_mean=True/False)`` decides instead, see :func:`wanted`); exported and
inference graphs never change.
"""
import json

from ..errors import ArgumentError


def worthwhile(flags=None):
    """Whether the rewrite pays on this CPU: yes with AVX-512 (see the module's docstring)."""
    from .amp import cpu_flags

    return "avx512f" in (cpu_flags() if flags is None else flags)


def check(setting):
    """Refuse a ``pool_as_mean`` that is not None, True or False."""
    if setting is not None and not isinstance(setting, bool):
        raise ArgumentError(f"pool_as_mean must be None (automatic), True or False, "
                            f"got {setting!r}")


def wanted(setting, context):
    """Whether ``fit``'s training graph on ``context`` is rewritten, by its ``pool_as_mean``.

    ``None`` rewrites where it pays (:func:`worthwhile`), ``True`` always,
    ``False`` never; GPU graphs never: the rewrite works around oneDNN's CPU
    kernels.
    """
    if context.device_type != "cpu" or setting is False:
        return False
    return True if setting else worthwhile()


def _global_avg_axes(node):
    """The spatial axes a channel-first global average pooling reduces, else None."""
    attrs = node.get("attrs", {})
    if node["op"] != "Pooling" or attrs.get("global_pool", "False") not in ("True", "1") \
            or attrs.get("pool_type", "max") != "avg":
        return None
    layout = attrs.get("layout", "None")
    if layout not in ("None", "NCW", "NCHW", "NCDHW"):
        return None
    dims = len(attrs.get("kernel", "()").strip("()[] ").split(",")) if layout == "None" \
        else len(layout) - 2
    return tuple(range(2, 2 + dims))


def as_mean(sym):
    """``sym`` with every global average pooling (channels first) computed as a ``mean``.

    Returns ``sym`` itself when it has none.
    """
    import mxnet as mx

    graph = json.loads(sym.tojson(remove_amp_cast=False))  # keep mixed precision's casts
    changed = False
    for node in graph["nodes"]:
        axes = _global_avg_axes(node)
        if axes is None:
            continue
        node["op"] = "mean"
        node["attrs"] = {"axis": str(axes), "keepdims": "True"}
        node["inputs"] = node["inputs"][:1]
        changed = True
    if not changed:
        return sym
    graph.pop("node_row_ptr", None)
    return mx.sym.load_json(json.dumps(graph))
