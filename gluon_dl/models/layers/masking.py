"""Length masks and the masked softmax, written with broadcasting only.

Lesson: attention mechanisms (masked softmax) and seq2seq (masked loss).
d2l builds these masks with ``repeat``; MXNet exports ``repeat`` as a Tile
that onnx2tf stumbles on, so every mask here is a comparison of a position
ramp (``arange_like``) with the broadcast valid lengths.
"""
from mxnet.gluon import nn

__all__ = ["MaskedSoftmax", "masked_softmax", "sequence_mask"]

# Added to masked scores before the softmax; exp(-1e6) underflows to 0 in float32.
_MASK_VALUE = -1e6


def sequence_mask(F, X, valid_len):
    """A float mask of shape ``(N, T)``: 1 where ``t < valid_len[n]``, else 0.

    Parameters
    ----------
    F : module
        ``mx.nd`` or ``mx.sym``.
    X : NDArray or Symbol
        Any array of shape ``(N, T, ...)``; only its time axis 1 is read.
    valid_len : NDArray or Symbol
        Shape ``(N,)``, any numeric dtype.
    """
    positions = F.reshape(F.contrib.arange_like(X, axis=1), (1, -1))
    lengths = F.reshape(F.cast(valid_len, "float32"), (-1, 1))
    return F.broadcast_lesser(F.cast(positions, "float32"), lengths)


def masked_softmax(F, scores, valid_len=None, head_axis=False):
    """Softmax over the last axis that ignores the keys at or past ``valid_len``.

    Masked positions get exactly zero weight and every row with at least one
    valid key sums to one (a row with ``valid_len == 0`` is all zeros).

    Parameters
    ----------
    F : module
        ``mx.nd`` or ``mx.sym``.
    scores : NDArray or Symbol
        ``(N, Q, K)``, or ``(N, heads, Q, K)`` when ``head_axis`` is true.
    valid_len : NDArray or Symbol, optional
        Valid keys per example ``(N,)`` or per query ``(N, Q)``; ``None``
        gives a plain softmax.
    head_axis : bool
        Whether ``scores`` carries a head axis after the batch axis
        (multi-head attention); the same lengths then apply to every head.
    """
    if valid_len is None:
        return F.softmax(scores, axis=-1)
    # (N,) -> (N, 1, 1) and (N, Q) -> (N, Q, 1): reshape codes 0/-1 only, so it exports.
    shape = (0, 1, -1, 1) if head_axis else (0, -1, 1)
    lengths = F.reshape(F.cast(valid_len, "float32"), shape)
    key_axis, ramp_shape = (3, (1, 1, 1, -1)) if head_axis else (2, (1, 1, -1))
    # A positive axis: MXNet's ONNX exporter slices an empty shape for arange_like(axis=-1).
    ramp = F.contrib.arange_like(scores, axis=key_axis)
    positions = F.reshape(F.cast(ramp, "float32"), ramp_shape)
    mask = F.broadcast_lesser(positions, lengths)
    masked = F.broadcast_add(scores, (1 - mask) * _MASK_VALUE)
    # The multiplication makes masked weights exactly zero, even for all-masked rows.
    return F.broadcast_mul(F.softmax(masked, axis=-1), mask)


class MaskedSoftmax(nn.HybridBlock):
    """:func:`masked_softmax` as a block: ``net(scores, valid_len=None)``.

    Parameters
    ----------
    head_axis : bool
        Whether the scores are ``(N, heads, Q, K)`` rather than ``(N, Q, K)``.
    """

    def __init__(self, head_axis=False, **kwargs):
        super().__init__(**kwargs)
        self._head_axis = head_axis

    def hybrid_forward(self, F, scores, valid_len=None):
        return masked_softmax(F, scores, valid_len, head_axis=self._head_axis)
