"""Connectionist temporal classification: the loss and its decoders.

Graves et al., "Connectionist Temporal Classification: Labelling Unsegmented
Sequence Data with Recurrent Neural Networks", ICML 2006.  Lesson: text
recognition with CRNN.

The blank convention
--------------------
``mxnet.gluon.loss.CTCLoss`` calls the ``CTCLoss`` operator with
``blank_label='last'`` (whatever the operator's own default of ``'first'``
says): with ``C`` real classes the network outputs ``C + 1`` scores per time
step, classes are ``0 .. C-1``, the **blank is index C** (the last one) and
label rows are padded with ``-1``.  Every function here follows the same
convention: ``blank=None`` means "the last index".

The decoders are plain numpy so that the edge runtime can use them.
"""
import numpy as np

from .errors import ArgumentError

__all__ = ["ctc_loss", "pad_labels", "collapse", "greedy_decode", "beam_search_decode",
           "sequence_log_prob"]

PAD = -1


def ctc_loss(layout="NTC"):
    """The CTC loss of gluon with the conventions of this module.

    Call it as ``loss(pred, labels, pred_lengths=None, label_lengths=None)``
    with ``pred`` the **unnormalized** scores of shape ``(N, T, C + 1)``
    (it applies the softmax itself), ``labels`` of shape ``(N, L)`` padded
    with ``-1`` (see :func:`pad_labels`); it returns the negative log
    likelihood per sample, shape ``(N,)``.

    Parameters
    ----------
    layout : str
        ``"NTC"`` (what :mod:`gluon_dl.models.crnn` outputs) or ``"TNC"``.
    """
    from mxnet import gluon

    return gluon.loss.CTCLoss(layout=layout, label_layout="NT")


def pad_labels(sequences, max_len=None):
    """Stack label sequences into an ``(N, L)`` int array padded with ``-1``.

    Parameters
    ----------
    sequences : list of sequence of int
        Class ids in ``0 .. C-1`` (never the blank).
    max_len : int, optional
        ``L``; defaults to the longest sequence.
    """
    lengths = [len(s) for s in sequences]
    max_len = max(lengths) if max_len is None else max_len
    if max(lengths) > max_len:
        raise ArgumentError(f"a label sequence of length {max(lengths)} exceeds max_len={max_len}")
    out = np.full((len(sequences), max_len), PAD, dtype=np.int32)
    for i, s in enumerate(sequences):
        out[i, :len(s)] = s
    return out


def _as_batch(probs):
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 2:
        return probs[None], True
    if probs.ndim != 3:
        raise ArgumentError(f"expected probabilities of shape (T, C) or (N, T, C), got {probs.shape}")
    return probs, False


def _blank(probs, blank):
    return probs.shape[-1] - 1 if blank is None else blank


def collapse(path, blank):
    """Merge repeated symbols of an alignment, then drop blanks."""
    out, prev = [], None
    for s in path:
        s = int(s)
        if s != prev and s != blank:
            out.append(s)
        prev = s
    return out


def greedy_decode(probs, blank=None, lengths=None):
    """Best-path decoding: the argmax of every frame, collapsed.

    Parameters
    ----------
    probs : array of shape (T, C + 1) or (N, T, C + 1)
        Per-frame scores; softmax probabilities, log probabilities or raw
        logits all give the same argmax.
    blank : int, optional
        Index of the blank; defaults to the last one (gluon's CTCLoss).
    lengths : sequence of int, optional
        Valid frames of each sample.

    Returns
    -------
    list of int, or a list of them for a batch
    """
    batch, single = _as_batch(probs)
    blank = _blank(batch, blank)
    out = []
    for i, frames in enumerate(batch):
        n = len(frames) if lengths is None else int(lengths[i])
        out.append(collapse(frames[:n].argmax(axis=-1), blank))
    return out[0] if single else out


def _beam_one(log_probs, beam_width, blank):
    # Each prefix keeps two log probabilities: of the alignments that end in a
    # blank and of those that end in its last symbol; a repeated symbol only
    # extends the prefix when a blank separates the two.
    beams = {(): (0.0, -np.inf)}
    for frame in log_probs:
        nxt = {}

        def add(prefix, lb, lnb):
            ob, onb = nxt.get(prefix, (-np.inf, -np.inf))
            nxt[prefix] = (np.logaddexp(ob, lb), np.logaddexp(onb, lnb))

        for prefix, (lb, lnb) in beams.items():
            total = np.logaddexp(lb, lnb)
            add(prefix, total + frame[blank], -np.inf)
            for c, lp in enumerate(frame):
                if c == blank:
                    continue
                if prefix and prefix[-1] == c:
                    add(prefix, -np.inf, lnb + lp)
                    add(prefix + (c,), -np.inf, lb + lp)
                else:
                    add(prefix + (c,), -np.inf, total + lp)
        ranked = sorted(nxt.items(), key=lambda kv: -np.logaddexp(*kv[1]))
        beams = dict(ranked[:beam_width])
    prefix, (lb, lnb) = max(beams.items(), key=lambda kv: np.logaddexp(*kv[1]))
    return list(prefix), float(np.logaddexp(lb, lnb))


def beam_search_decode(probs, beam_width=10, blank=None, lengths=None, return_scores=False):
    """Prefix beam search: the labelling with the highest summed probability.

    Greedy decoding follows the single most likely alignment; a labelling is
    produced by many alignments, and the most likely labelling need not
    contain the most likely alignment.  Prefix beam search merges alignments
    that collapse to the same prefix (Graves 2012; Hannun et al. 2014).  With
    a beam as wide as the number of prefixes it is exact.

    Parameters
    ----------
    probs : array of shape (T, C + 1) or (N, T, C + 1)
        Softmax **probabilities** (each frame sums to 1).
    beam_width : int
    blank : int, optional
        Index of the blank; defaults to the last one.
    lengths : sequence of int, optional
        Valid frames of each sample.
    return_scores : bool
        Also return the log probability of each decoded labelling.

    Returns
    -------
    list of int (or a list of them for a batch), with the log probabilities
    when ``return_scores``.
    """
    if beam_width < 1:
        raise ArgumentError(f"beam_width must be >= 1, got {beam_width}")
    batch, single = _as_batch(probs)
    blank = _blank(batch, blank)
    with np.errstate(divide="ignore"):
        log_probs = np.log(batch)
    decoded, scores = [], []
    for i, frames in enumerate(log_probs):
        n = len(frames) if lengths is None else int(lengths[i])
        seq, score = _beam_one(frames[:n], beam_width, blank)
        decoded.append(seq)
        scores.append(score)
    if single:
        decoded, scores = decoded[0], scores[0]
    return (decoded, scores) if return_scores else decoded


def sequence_log_prob(probs, labels, blank=None):
    """``log p(labels | probs)`` by the CTC forward algorithm (numpy).

    The quantity whose negative gluon's CTCLoss returns; useful to check a
    decoder's choice or the loss itself.

    Parameters
    ----------
    probs : array of shape (T, C + 1)
        Softmax probabilities of one sample.
    labels : sequence of int
        The labelling, without blanks or padding.
    blank : int, optional
        Index of the blank; defaults to the last one.
    """
    probs = np.asarray(probs, dtype=np.float64)
    blank = _blank(probs, blank)
    ext = [blank]
    for s in labels:
        ext += [int(s), blank]
    with np.errstate(divide="ignore"):
        lp = np.log(probs)
    alpha = np.full(len(ext), -np.inf)
    alpha[0] = lp[0, ext[0]]
    if len(ext) > 1:
        alpha[1] = lp[0, ext[1]]
    for t in range(1, len(lp)):
        prev = alpha.copy()
        for s, sym in enumerate(ext):
            a = prev[s]
            if s >= 1:
                a = np.logaddexp(a, prev[s - 1])
            if s >= 2 and sym != blank and sym != ext[s - 2]:
                a = np.logaddexp(a, prev[s - 2])
            alpha[s] = a + lp[t, sym]
    return float(np.logaddexp(alpha[-1], alpha[-2]) if len(ext) > 1 else alpha[-1])
