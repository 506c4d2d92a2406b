"""BERT's pretraining data: sentence pairs for next-sentence prediction, masked tokens.

Defined for the lesson on pretraining BERT (the course's ``_WikiTextDataset``
and ``load_data_wiki``)::

    loader, vocab = load_data_bert("python-docs", batch_size=64, max_len=64)
    net = get_model("bert_small", vocab_size=len(vocab))
    fit(net, loader, 10, loss=BERTPretrainingLoss(), lr=1e-3)

From paragraphs of sentences, each pair of consecutive sentences becomes an
example ``<cls> A <sep> B <sep>`` where B is A's next sentence half of the
time and a random sentence of the corpus otherwise (the label says which).
Then 15% of its tokens (at least one; never ``<cls>`` or ``<sep>``) are
chosen for the masked LM: 80% of them become ``<mask>``, 10% a random word,
10% stay, and the model predicts the original token at every chosen position.

Every random draw comes from one ``numpy.random.RandomState(seed)``, so the
same text and seed give the same examples.  As in the course the masking is
drawn once, when the examples are built (static masking).
"""
import numbers
import re

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, DataError
from .loader import ArrayLoader
from .text import Vocab

__all__ = ["RESERVED_TOKENS", "bert_examples", "bert_paragraphs", "evaluate_pretraining",
           "load_data_bert", "tokens_and_segments"]

RESERVED_TOKENS = ("<pad>", "<mask>", "<cls>", "<sep>")
MASK_RATE = 0.15
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"<unk>|[^\W_]+(?:'[^\W_]+)?")
_HEADING = re.compile(r"^\s*(?:([*=~^-])\1{3,}|=(?: =)* .* =(?: =)*)\s*$", re.M)
_CODE_INDENT = 3  # prose is indented by at most 2 spaces (lists); code examples by more


def bert_paragraphs(text, min_sentences=2):
    """Paragraphs as lists of sentences, each a list of lowercase word tokens.

    A paragraph is the prose between two headings: the blocks between blank
    lines are joined until a heading (a line underlined with ``*``, ``=``,
    ``-``, ``~`` or ``^`` as in python-docs, or WikiText-2's ``= Title =``)
    starts the next one, so consecutive sentences of a section stay
    together across short paragraphs.  Blocks indented by 3 spaces or more
    (code examples) are left out; a sentence ends at ``.``, ``!`` or ``?``
    followed by a space; tokens are words and numbers (``<unk>``, which
    WikiText-2 writes for rare words, stays one token); punctuation is dropped.

    Parameters
    ----------
    text : str
    min_sentences : int
        Paragraphs with fewer sentences give no sentence pair and are dropped.

    Returns
    -------
    list of list of list of str
    """
    if not isinstance(text, str):
        raise ArgumentTypeError(f"bert_paragraphs takes a str, got {type(text).__name__}")
    paragraphs, current = [], []
    for block in re.split(r"\n\s*\n", text) + [""]:
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines or _HEADING.search(block):  # the heading's block is its title only
            if len(current) >= min_sentences:
                paragraphs.append(current)
            current = []
            continue
        if min(len(line) - len(line.lstrip()) for line in lines) >= _CODE_INDENT:
            continue
        sentences = (_WORD.findall(s) for s in _SENTENCE_END.split(" ".join(lines).lower()))
        current.extend(s for s in sentences if s)
    return paragraphs


def tokens_and_segments(tokens_a, tokens_b=None):
    """``<cls> A <sep> (B <sep>)`` and its segment ids: 0 for A's part, 1 for B's."""
    tokens = ["<cls>"] + list(tokens_a) + ["<sep>"]
    segments = [0] * len(tokens)
    if tokens_b is not None:
        tokens += list(tokens_b) + ["<sep>"]
        segments += [1] * (len(tokens_b) + 1)
    return tokens, segments


def bert_examples(paragraphs, vocab, max_len=64, seed=0, num_examples=None):
    """The pretraining examples of ``paragraphs`` as padded int arrays.

    Parameters
    ----------
    paragraphs : list of list of list of str
        :func:`bert_paragraphs`' output.
    vocab : Vocab
        Holding ``<pad>``, ``<mask>``, ``<cls>`` and ``<sep>``.
    max_len : int
        Tokens per example; pairs that do not fit are skipped.  Each example
        has ``round(0.15 * max_len)`` prediction slots.
    seed : int
    num_examples : int, optional
        Stop after this many examples (the first paragraphs' pairs).

    Returns
    -------
    X : (tokens, segments, valid_len, pred_positions)
        int32 ``(N, max_len)``, ``(N, max_len)``, ``(N,)``, ``(N, P)``: the
        inputs of ``bert_small`` in order.
    y : (mlm_labels, mlm_weights, nsp_labels)
        int32 ``(N, P)``, float32 ``(N, P)`` (1 for a real prediction, 0 for a
        padding slot) and int32 ``(N,)``: the targets of
        :class:`gluon_dl.losses.BERTPretrainingLoss`.
    """
    _check_vocab(vocab)
    if isinstance(max_len, bool) or not isinstance(max_len, numbers.Integral) or max_len < 5:
        raise ArgumentError(f"bert_examples: max_len must be an integer >= 5, got {max_len!r}")
    if num_examples is not None and (isinstance(num_examples, bool) or not isinstance(
            num_examples, numbers.Integral) or num_examples < 1):
        raise ArgumentError(f"bert_examples: num_examples must be a whole number >= 1, got "
                            f"{num_examples!r}")
    rng = np.random.RandomState(seed)
    sentences = [s for p in paragraphs for s in p]
    pairs = []
    for paragraph in paragraphs:
        for a, b, is_next in _nsp_pairs(paragraph, sentences, rng):
            if len(a) + len(b) + 3 <= max_len:
                pairs.append((a, b, is_next))
        if num_examples is not None and len(pairs) >= num_examples:
            pairs = pairs[:num_examples]
            break
    if not pairs:
        raise DataError(f"bert_examples: the text gives no pair of consecutive sentences that "
                        f"fits max_len={max_len}; give paragraphs of at least two sentences "
                        f"or a larger max_len")
    num_preds = max(1, round(max_len * MASK_RATE))
    rows = [_masked_example(a, b, is_next, vocab, rng) for a, b, is_next in pairs]
    return _pad(rows, vocab, max_len, num_preds)


def load_data_bert(text_or_name, batch_size, max_len=64, *, split="train", root=None,
                   vocab=None, min_freq=5, num_examples=None, seed=0, shuffle=True,
                   as_ndarray=True):
    """A loader of BERT pretraining batches and its vocabulary.

    Defined for the lesson on pretraining BERT (the course's ``load_data_wiki``).

    Parameters
    ----------
    text_or_name : str
        A text data set (``"python-docs"`` offline, ``"wikitext-2"`` from
        ``root``) or the text itself.
    batch_size, max_len : int
    split : str
        The data set's split (a name only).
    root : str or Path, optional
    vocab : Vocab, optional
        Reuse a vocabulary (the training data's, for held-out text); default:
        built from the text's words with ``min_freq`` and the reserved tokens
        ``<pad> <mask> <cls> <sep>``.
    min_freq : int
    num_examples : int, optional
        Keep the first examples only (the vocabulary still counts the whole text).
    seed : int
        Draws the sentence pairs, the masks and the loader's order.
    shuffle : bool
    as_ndarray : bool

    Returns
    -------
    loader : ArrayLoader
        Batches ``((tokens, segments, valid_len, pred_positions),
        (mlm_labels, mlm_weights, nsp_labels))`` (see :func:`bert_examples`).
    vocab : Vocab
    """
    paragraphs = bert_paragraphs(_text(text_or_name, split, root))
    if not paragraphs:
        raise DataError("load_data_bert: the text has no paragraph of two sentences or more")
    if vocab is None:
        vocab = Vocab([s for p in paragraphs for s in p], min_freq=min_freq,
                      reserved_tokens=list(RESERVED_TOKENS))
    X, y = bert_examples(paragraphs, vocab, max_len, seed, num_examples)
    loader = ArrayLoader(X, y, batch_size, shuffle=shuffle, seed=seed, as_ndarray=as_ndarray)
    return loader, vocab


def evaluate_pretraining(net, data_iter):
    """Mean masked-LM and next-sentence losses and accuracies of ``net`` over ``data_iter``.

    Defined for the lesson on pretraining BERT.  The network runs in
    inference mode (no dropout); the masked LM is scored over real
    predictions only.

    Returns
    -------
    dict
        ``mlm_loss``, ``mlm_acc`` (per prediction) and ``nsp_loss``,
        ``nsp_acc`` (per example).
    """
    sums = dict(mlm_loss=0.0, mlm_acc=0.0, nsp_loss=0.0, nsp_acc=0.0)
    preds = examples = 0
    for X, (mlm_labels, mlm_weights, nsp_labels) in data_iter:
        _, mlm, nsp = net(*X)
        w = _numpy(mlm_weights)
        mlm_lp, mlm_hit = _log_prob_and_hits(_numpy(mlm), _numpy(mlm_labels))
        nsp_lp, nsp_hit = _log_prob_and_hits(_numpy(nsp), _numpy(nsp_labels))
        sums["mlm_loss"] -= float((mlm_lp * w).sum())
        sums["mlm_acc"] += float((mlm_hit * w).sum())
        sums["nsp_loss"] -= float(nsp_lp.sum())
        sums["nsp_acc"] += float(nsp_hit.sum())
        preds, examples = preds + float(w.sum()), examples + len(w)
    if not examples:
        raise DataError("evaluate_pretraining: the loader yielded no batch")
    return {k: v / (preds if k.startswith("mlm") else examples) for k, v in sums.items()}


def _nsp_pairs(paragraph, sentences, rng):
    """``(A, B, is_next)`` for every consecutive pair; B is a random sentence half the time."""
    for i in range(len(paragraph) - 1):
        if rng.rand() < 0.5:
            yield paragraph[i], paragraph[i + 1], 1
        else:
            yield paragraph[i], sentences[rng.randint(len(sentences))], 0


def _masked_example(a, b, is_next, vocab, rng):
    """One example's token ids, segments, prediction positions and labels."""
    tokens, segments = tokens_and_segments(a, b)
    ids = vocab[tokens]
    candidates = [i for i, t in enumerate(tokens) if t not in ("<cls>", "<sep>")]
    rng.shuffle(candidates)
    num = max(1, round(len(tokens) * MASK_RATE))
    positions = sorted(candidates[:num])
    labels = [ids[p] for p in positions]
    first_word = 1 + len(vocab.reserved_tokens)  # ids past <unk> and the reserved tokens
    for p in positions:
        draw = rng.rand()
        if draw < 0.8:
            ids[p] = vocab["<mask>"]
        elif draw >= 0.9:
            ids[p] = rng.randint(first_word, len(vocab))
    return ids, segments, positions, labels, is_next


def _pad(rows, vocab, max_len, num_preds):
    n, pad = len(rows), vocab["<pad>"]
    tokens = np.full((n, max_len), pad, dtype=np.int32)
    segments = np.zeros((n, max_len), dtype=np.int32)
    valid_len = np.zeros(n, dtype=np.int32)
    positions = np.zeros((n, num_preds), dtype=np.int32)
    labels = np.zeros((n, num_preds), dtype=np.int32)
    weights = np.zeros((n, num_preds), dtype=np.float32)
    nsp = np.zeros(n, dtype=np.int32)
    for i, (ids, segs, pos, lab, is_next) in enumerate(rows):
        tokens[i, :len(ids)], segments[i, :len(segs)], valid_len[i] = ids, segs, len(ids)
        positions[i, :len(pos)], labels[i, :len(lab)], weights[i, :len(pos)] = pos, lab, 1
        nsp[i] = is_next
    return (tokens, segments, valid_len, positions), (labels, weights, nsp)


def _check_vocab(vocab):
    if not isinstance(vocab, Vocab):
        raise ArgumentTypeError(f"bert_examples: vocab must be a gluon_dl.data.Vocab, got "
                                f"{type(vocab).__name__}")
    missing = [t for t in RESERVED_TOKENS if t not in vocab]
    if missing or len(vocab) <= 1 + len(vocab.reserved_tokens):
        raise ArgumentError(f"bert_examples: the vocabulary lacks {missing or 'words'}; build "
                            f"it with reserved_tokens={list(RESERVED_TOKENS)} from the text")


def _text(text_or_name, split, root):
    from .datasets import dataset_info, list_datasets, load_dataset

    if not isinstance(text_or_name, str):
        raise ArgumentTypeError(f"load_data_bert: expected a text or a data set name, got "
                                f"{type(text_or_name).__name__}")
    key = text_or_name.strip().lower().replace("_", "-")
    if "\n" in text_or_name or key not in list_datasets():
        return text_or_name
    text = load_dataset(key, split=split, root=root)
    if dataset_info(key).kind != "text" or not isinstance(text, str):
        raise ArgumentError(f"load_data_bert: data set '{key}' is not one text; use a corpus "
                            f"such as python-docs or wikitext-2")
    return text


def _numpy(a):
    return a.asnumpy() if hasattr(a, "asnumpy") else np.asarray(a)


def _log_prob_and_hits(logits, labels):
    """Log-probabilities of ``labels`` under ``logits`` (last axis) and top-1 hits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    labels = labels.astype(np.int64)
    picked = np.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
    return picked, (logits.argmax(axis=-1) == labels).astype(np.float64)
