"""Losses for sequence models (seq2seq, language models)."""
from mxnet import gluon

from ..models.layers.masking import sequence_mask

__all__ = ["MaskedSoftmaxCELoss"]


class MaskedSoftmaxCELoss(gluon.loss.SoftmaxCrossEntropyLoss):
    """Softmax cross-entropy that ignores the padding past each valid length.

    Lesson: sequence to sequence learning (the masked loss).  Call it as
    ``loss(pred, label, valid_len)`` with ``pred`` of shape ``(N, T, V)``,
    integer ``label`` of shape ``(N, T)`` and ``valid_len`` of shape
    ``(N,)``.  Returns one loss per sequence, shape ``(N,)``: the sum of the
    valid steps' losses divided by ``T`` (as in d2l), so padded steps neither
    add to the loss nor receive gradients.  Divide by ``valid_len / T`` for a
    per-token mean.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("axis", -1)
        super().__init__(**kwargs)

    # pylint: disable=arguments-differ
    def hybrid_forward(self, F, pred, label, valid_len):
        weights = F.expand_dims(sequence_mask(F, label, valid_len), axis=-1)
        return super().hybrid_forward(F, pred, label, weights)
