"""What channel pruning removed: per layer channels, parameters and FLOPs, before and after."""
import dataclasses
from typing import List, Optional, Tuple

_COLUMNS = (("layer", "layer"), ("op", "op"), ("channels", "channels"),
            ("in_features", "inputs"), ("params", "params"), ("flops", "FLOPs"))


@dataclasses.dataclass(frozen=True)
class LayerRow:
    """One convolution, deconvolution or dense layer; pairs are ``(before, after)``."""

    layer: str
    op: str
    channels: Tuple[int, int]
    in_features: Tuple[int, int]
    params: Tuple[int, int]
    flops: Tuple[int, int]


@dataclasses.dataclass(frozen=True)
class ChannelGroup:
    """Channels that are removed together: one layer's, or those a residual sum joins.

    ``reason`` says why a group keeps every channel (None when it was pruned
    or too small to prune); ``kept`` lists the surviving channel indices.
    """

    layers: Tuple[str, ...]
    channels: int
    kept: Tuple[int, ...]
    reason: Optional[str]


@dataclasses.dataclass(frozen=True)
class ChannelPruningReport:
    """Result of :func:`deploy.prune.prune_channels`.

    Attributes
    ----------
    sparsity : float
        The requested fraction of channels removed per prunable group.
    rows : list of LayerRow
        Every convolution, deconvolution and dense layer, in graph order.
    groups : list of ChannelGroup
        Every channel group that holds a convolution or dense layer's outputs.
    params : tuple of int
        Trainable parameters of the whole network, before and after.
    removed_entries : dict
        ``{parameter name: (axis, indices)}``: the entries of the original
        network's parameters that belong to removed channels (their filters,
        biases, BatchNorm entries).  Setting them to zero in the original
        network makes it compute what the pruned network computes.
    """

    sparsity: float
    rows: List[LayerRow]
    groups: List[ChannelGroup]
    params: Tuple[int, int]
    removed_entries: dict

    @property
    def flops(self):
        """Multiply-accumulates of all convolution and dense layers for one sample, before/after.

        One multiply-accumulate counts as one FLOP, the convention of Li et al.
        2017 and most pruning papers; BatchNorm, pooling and activations are
        not counted.
        """
        return (sum(r.flops[0] for r in self.rows), sum(r.flops[1] for r in self.rows))

    @property
    def channels(self):
        """Output channels of all convolution and dense layers, before and after."""
        return (sum(r.channels[0] for r in self.rows), sum(r.channels[1] for r in self.rows))

    def to_dict(self):
        """A JSON-ready dict (lists instead of tuples, ints, floats and strings only)."""
        def pair(p):
            return {"before": int(p[0]), "after": int(p[1])}
        return {
            "sparsity": self.sparsity,
            "totals": {"params": pair(self.params), "flops": pair(self.flops),
                       "channels": pair(self.channels)},
            "layers": [{"layer": r.layer, "op": r.op, "channels": pair(r.channels),
                        "in_features": pair(r.in_features), "params": pair(r.params),
                        "flops": pair(r.flops)} for r in self.rows],
            "groups": [{"layers": list(g.layers), "channels": g.channels,
                        "kept": list(g.kept), "reason": g.reason} for g in self.groups],
        }

    def table(self):
        """The per-layer table with a totals line, as plain text."""
        header = [title for _, title in _COLUMNS]
        rows = [[r.layer, r.op] + [_arrow(getattr(r, key)) for key, _ in _COLUMNS[2:]]
                for r in self.rows]
        rows.append(["total", "", _arrow(self.channels), "", _arrow(self.params),
                     _arrow(self.flops)])
        widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
        fmt = [str.ljust, str.ljust] + [str.rjust] * (len(header) - 2)
        lines = [header, ["-" * w for w in widths]] + rows[:-1] + [["-" * w for w in widths],
                                                                   rows[-1]]
        return "\n".join("  ".join(f(c, w) for f, c, w in zip(fmt, line, widths)).rstrip()
                         for line in lines)

    def summary(self):
        """One line: parameters and FLOPs before -> after, with the ratios."""
        (p0, p1), (f0, f1) = self.params, self.flops
        return (f"channel pruning at sparsity {self.sparsity:g}: parameters {p0:,} -> {p1:,} "
                f"({p0 / max(p1, 1):.2f}x fewer), FLOPs {f0:,} -> {f1:,} "
                f"({f0 / max(f1, 1):.2f}x fewer)")

    def __str__(self):
        return self.summary() + "\n" + self.table()


def _arrow(pair):
    before, after = pair
    return f"{before:,}" if before == after else f"{before:,} -> {after:,}"
