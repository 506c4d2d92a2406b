"""BLEU, the course's score for machine translation, per sentence and per corpus.

Defined for the lessons on sequence to sequence learning, Bahdanau attention
and the Transformer (d2l's ``bleu``).  A prediction and its label are token
lists (a str is split on whitespace).  The score of ``k``-gram precisions
``p_n`` and the brevity penalty is::

    exp(min(0, 1 - len_label / len_pred)) * prod_{n=1..k} p_n ** (1 / 2**n)

Longer n-grams weigh more (``1/2**n``), since matching them is harder; a
prediction shorter than the label is penalized, since precisions alone would
reward saying little.  Each label n-gram can be matched once (clipped counts).

Plain Python; :func:`evaluate_bleu` imports MXNet to translate.
"""
import collections
import math
import numbers

from .errors import ArgumentError, ArgumentTypeError

__all__ = ["bleu", "corpus_bleu", "evaluate_bleu"]


def bleu(pred_tokens, label_tokens, k=2):
    """BLEU of one predicted sentence against its label (d2l's definition).

    Parameters
    ----------
    pred_tokens, label_tokens : str or list of str
        A str is split on whitespace.
    k : int
        Longest n-gram matched.

    Returns
    -------
    float
        In ``[0, 1]``; 1 for an exact match.  An empty prediction scores 0
        (1 if the label is empty too).  Orders ``n`` longer than the
        prediction are left out (it has no n-grams to score; the brevity
        penalty already charges a short prediction), where d2l's formula
        divides by zero.
    """
    pred, label = _tokens(pred_tokens, "pred_tokens"), _tokens(label_tokens, "label_tokens")
    _check_k(k)
    if not pred:
        return 1.0 if not label else 0.0
    score = _brevity_penalty(len(pred), len(label))
    for n in range(1, min(k, len(pred)) + 1):
        matches, total = _clipped_matches(pred, label, n)
        score *= (matches / total) ** (0.5 ** n)
    return score


def corpus_bleu(preds, labels, k=2):
    """BLEU of a corpus: n-gram matches and lengths summed over all sentences first.

    The corpus-level form of :func:`bleu` (as Papineni et al. score a test
    set, with the course's ``1/2**n`` weights): one brevity penalty from the
    total lengths and one precision per order from the summed clipped
    matches, so a corpus is not the mean of its sentences' scores and one
    short sentence does not zero it.

    Parameters
    ----------
    preds, labels : list of (str or list of str)
        Predictions and their labels, in the same order.
    k : int

    Returns
    -------
    float
        In ``[0, 1]``; 0 when no prediction has a token.
    """
    if not isinstance(preds, (list, tuple)) or not isinstance(labels, (list, tuple)):
        raise ArgumentTypeError(f"corpus_bleu: preds and labels must be lists of sentences, got "
                                f"{type(preds).__name__} and {type(labels).__name__}")
    if len(preds) != len(labels) or not preds:
        raise ArgumentError(f"corpus_bleu: {len(preds)} predictions and {len(labels)} labels; "
                            f"pass one label per prediction (and at least one)")
    _check_k(k)
    preds = [_tokens(p, f"preds[{i}]") for i, p in enumerate(preds)]
    labels = [_tokens(t, f"labels[{i}]") for i, t in enumerate(labels)]
    len_pred, len_label = sum(map(len, preds)), sum(map(len, labels))
    if not len_pred:
        return 1.0 if not len_label else 0.0
    score = _brevity_penalty(len_pred, len_label)
    for n in range(1, k + 1):
        counts = [_clipped_matches(p, t, n) for p, t in zip(preds, labels) if len(p) >= n]
        total = sum(c[1] for c in counts)
        if total:
            score *= (sum(c[0] for c in counts) / total) ** (0.5 ** n)
    return score


def evaluate_bleu(net, sources, targets, src_vocab, tgt_vocab, num_steps, k=2):
    """Translate ``sources`` greedily and score them against ``targets``.

    Defined for the lessons on machine translation: the held-out score of a
    trained seq2seq model or Transformer.  The sources are translated in one
    batch by the model's own decoder (:func:`gluon_dl.models.seq2seq.predict_seq2seq`,
    :func:`gluon_dl.models.transformer.greedy_translate`), which gives what
    :func:`gluon_dl.inference.predict_seq2seq` gives sentence by sentence:
    the source with ``<eos>``, padded or cut to ``num_steps``, decoded from
    ``<bos>`` until ``<eos>`` or ``num_steps`` tokens.

    Parameters
    ----------
    net : Seq2Seq or Transformer
    sources, targets : list of list of str
        Token lists, e.g. the ``source``/``target`` of
        :func:`gluon_dl.data.nmt.tokenize_nmt`.
    src_vocab, tgt_vocab : Vocab
        With ``<pad>``, ``<bos>`` and ``<eos>``.
    num_steps : int
    k : int

    Returns
    -------
    score : float
        :func:`corpus_bleu` of the translations.
    translations : list of list of str
    """
    if len(sources) != len(targets) or not sources:
        raise ArgumentError(f"evaluate_bleu: {len(sources)} sources and {len(targets)} targets; "
                            f"pass one target per source (and at least one)")
    translations = _translate(net, sources, src_vocab, tgt_vocab, num_steps)
    return corpus_bleu(translations, [list(t) for t in targets], k), translations


def _translate(net, sources, src_vocab, tgt_vocab, num_steps):
    """Greedy translations of token lists, batched, with the model's own decoder."""
    import mxnet as mx

    from .data.nmt import build_array_nmt

    is_transformer = hasattr(net, "decode_step")  # decodes with its key/value cache
    if not is_transformer and not hasattr(getattr(net, "decoder", None), "unroll"):
        raise ArgumentTypeError(f"evaluate_bleu: {type(net).__name__} is no translation model; "
                                f"pass a seq2seq_gru, seq2seq_attention or transformer")
    src, valid = build_array_nmt(sources, src_vocab, num_steps)
    bos, eos = tgt_vocab["<bos>"], tgt_vocab["<eos>"]
    if is_transformer:
        from .models.transformer import greedy_translate

        ctx = next(iter(net.collect_params().values())).list_ctx()[0]
        ids = greedy_translate(net, mx.nd.array(src, ctx=ctx, dtype="int32"),
                               mx.nd.array(valid, ctx=ctx, dtype="int32"), num_steps, bos, eos)
    else:
        from .models.seq2seq import predict_seq2seq

        rows = predict_seq2seq(net, src, valid, bos, num_steps, eos).tolist()
        ids = [row[:row.index(eos)] if eos in row else row for row in rows]
    return [tgt_vocab.to_tokens(row) for row in ids]


def _clipped_matches(pred, label, n):
    """``(matches, n-grams of pred)``: each label n-gram matches at most as often as it occurs."""
    available = collections.Counter(tuple(label[i:i + n]) for i in range(len(label) - n + 1))
    wanted = collections.Counter(tuple(pred[i:i + n]) for i in range(len(pred) - n + 1))
    matches = sum(min(count, available[gram]) for gram, count in wanted.items())
    return matches, max(len(pred) - n + 1, 0)


def _brevity_penalty(len_pred, len_label):
    return math.exp(min(0.0, 1.0 - len_label / len_pred))


def _tokens(seq, name):
    if isinstance(seq, str):
        return seq.split()
    if not isinstance(seq, (list, tuple)) or not all(isinstance(t, str) for t in seq):
        raise ArgumentTypeError(f"bleu: {name} must be a str or a list of str tokens, got "
                                f"{type(seq).__name__}")
    return list(seq)


def _check_k(k):
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ArgumentError(f"bleu: k (the longest n-gram) must be an integer >= 1, got {k!r}")
