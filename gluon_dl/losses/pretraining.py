"""The loss of BERT's pretraining: masked language modeling plus next-sentence prediction."""
from mxnet import gluon

__all__ = ["BERTPretrainingLoss"]


class BERTPretrainingLoss(gluon.HybridBlock):
    """Masked-LM cross-entropy over the real predictions plus next-sentence cross-entropy.

    Lesson: pretraining BERT.  Call it as ``loss(out, mlm_labels,
    mlm_weights, nsp_labels)`` with ``out`` the ``(encoded, mlm_logits
    (N, P, V), nsp_logits (N, 2))`` of :class:`gluon_dl.models.bert.BERTModel`,
    ``mlm_labels`` ``(N, P)`` the original tokens at the masked positions,
    ``mlm_weights`` ``(N, P)`` 1 for a real prediction and 0 for padding,
    and ``nsp_labels`` ``(N,)`` (1: B is A's next sentence).  The batches of
    :func:`gluon_dl.data.bert.load_data_bert` come in this order, so
    ``fit(net, loader, ..., loss=BERTPretrainingLoss())`` trains.

    Returns one loss per example ``(N,)``: the mean masked-LM loss over the
    example's real predictions plus its next-sentence loss (the course sums
    the two batch means the same way).
    """

    # pylint: disable=arguments-differ
    def hybrid_forward(self, F, out, mlm_labels, mlm_weights, nsp_labels):
        _, mlm_logits, nsp_logits = out
        picked = F.pick(F.log_softmax(mlm_logits, axis=-1), mlm_labels, axis=-1)   # (N, P)
        weights = F.cast(mlm_weights, "float32")
        # every example has at least one prediction; the epsilon only guards padding rows
        mlm = -F.sum(picked * weights, axis=1) / (F.sum(weights, axis=1) + 1e-8)
        nsp = -F.pick(F.log_softmax(nsp_logits, axis=-1), nsp_labels, axis=-1)
        return mlm + nsp
