"""Machine-translation minibatches: sentence pairs to padded, teacher-forced batches.

Defined for the lessons on sequence to sequence learning, Bahdanau attention
and the Transformer (the course's ``preprocess_nmt``, ``tokenize_nmt``,
``build_array_nmt`` and ``load_data_nmt``)::

    loader, src_vocab, tgt_vocab = load_data_nmt("fra-eng", batch_size=64, num_steps=10,
                                                 root="data")
    net = get_model("seq2seq_attention", src_vocab=len(src_vocab),
                    tgt_vocab=len(tgt_vocab), num_steps=10)
    fit(net, loader, 30, loss=MaskedSoftmaxCELoss(), lr=5e-3)

Pairs come from the fra-eng set (``load_dataset("fra-eng")``) or from any
list of ``(source, target)`` pairs: sentences as str (cleaned by
:func:`preprocess_nmt`, then split into words or characters) or token lists
(ints become their str, as :func:`gluon_dl.data.reverse_pairs` makes them).

A batch is ``((src, dec_input, src_valid_len), (label, label_valid_len))``,
all int32: what the zoo's ``seq2seq_gru``, ``seq2seq_attention`` and
``transformer`` take (``net(src, dec_input, src_valid_len)``) and what
:class:`gluon_dl.losses.MaskedSoftmaxCELoss` scores (``loss(logits, label,
label_valid_len)``).  ``dec_input`` is ``<bos>`` followed by the label
shifted right (teacher forcing).
"""
import numbers

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError
from .loader import ArrayLoader
from .text import TOKENS, Vocab, build_array, tokenize

__all__ = ["RESERVED_TOKENS", "build_array_nmt", "load_data_nmt", "nmt_arrays", "nmt_pairs",
           "preprocess_nmt", "tokenize_nmt"]

RESERVED_TOKENS = ("<pad>", "<bos>", "<eos>")
_PUNCTUATION = set(",.!?")


def preprocess_nmt(text):
    """Lowercase, non-breaking spaces to spaces, a space before ``, . ! ?``.

    Defined for the lesson on machine translation: ``"Go."`` becomes
    ``"go ."``, so punctuation is a word of its own.
    """
    if not isinstance(text, str):
        raise ArgumentTypeError(f"preprocess_nmt takes a str, got {type(text).__name__}")
    text = text.replace("\u202f", " ").replace("\xa0", " ").lower()
    return "".join(" " + c if i and c in _PUNCTUATION and text[i - 1] != " " else c
                   for i, c in enumerate(text))


def tokenize_nmt(pairs, num_examples=None, token="word"):
    """The token lists of the pairs' sources and targets.

    Defined for the lesson on machine translation.

    Parameters
    ----------
    pairs : list of (str or list, str or list)
        A str side is cleaned by :func:`preprocess_nmt` and split by
        ``token``; a list side is taken as its tokens (ints become str).
    num_examples : int, optional
        Keep the first ``num_examples`` pairs only (default all).
    token : {"word", "char"}

    Returns
    -------
    source, target : list of list of str
    """
    if token not in TOKENS:
        raise ArgumentError(f"tokenize_nmt: token must be one of {', '.join(TOKENS)}, "
                            f"got {token!r}")
    pairs = _check_pairs(pairs)
    if num_examples is not None:
        _positive("num_examples", num_examples)
        pairs = pairs[:num_examples]
    source = [_side(src, token) for src, _ in pairs]
    target = [_side(tgt, token) for _, tgt in pairs]
    return source, target


def build_array_nmt(lines, vocab, num_steps):
    """Token lines as ``(array, valid_len)``: ``<eos>`` appended, cut or padded to ``num_steps``.

    Defined for the lesson on machine translation; see
    :func:`gluon_dl.data.build_array`.
    """
    return build_array(lines, vocab, num_steps, eos="<eos>", pad="<pad>")


def nmt_arrays(source, target, src_vocab, tgt_vocab, num_steps):
    """The inputs and targets of a translation model, as numpy arrays.

    Parameters
    ----------
    source, target : list of list of str
        Token lists (:func:`tokenize_nmt`).
    src_vocab, tgt_vocab : Vocab
        Holding ``<pad>``, ``<bos>`` and ``<eos>``.
    num_steps : int

    Returns
    -------
    X : (src, dec_input, src_valid_len)
        int32 ``(N, num_steps)``, ``(N, num_steps)`` and ``(N,)``.
    y : (label, label_valid_len)
        int32 ``(N, num_steps)`` and ``(N,)``.
    """
    if len(source) != len(target):
        raise ArgumentError(f"nmt_arrays: {len(source)} sources but {len(target)} targets")
    for name, vocab in (("src_vocab", src_vocab), ("tgt_vocab", tgt_vocab)):
        if not isinstance(vocab, Vocab):
            raise ArgumentTypeError(f"nmt_arrays: {name} must be a gluon_dl.data.Vocab, got "
                                    f"{type(vocab).__name__}")
    if "<bos>" not in tgt_vocab:
        raise ArgumentError("nmt_arrays: tgt_vocab has no '<bos>'; build it with "
                            "reserved_tokens=['<pad>', '<bos>', '<eos>']")
    src, src_valid = build_array_nmt(source, src_vocab, num_steps)
    label, label_valid = build_array_nmt(target, tgt_vocab, num_steps)
    bos = np.full((len(label), 1), tgt_vocab["<bos>"], dtype=np.int32)
    dec_input = np.concatenate([bos, label[:, :-1]], axis=1)
    return (src, dec_input, src_valid), (label, label_valid)


def nmt_pairs(pairs_or_name, split="train", root=None):
    """The sentence pairs of a data set name (``"fra-eng"``) or a list of pairs, checked."""
    if isinstance(pairs_or_name, str):
        from .datasets import dataset_info, load_dataset

        info = dataset_info(pairs_or_name)
        pairs = load_dataset(info.name, split=split, root=root)
        if not isinstance(pairs, list) or not pairs or not isinstance(pairs[0], tuple):
            raise ArgumentError(f"load_data_nmt: data set '{info.name}' holds no sentence "
                                f"pairs; use a translation set such as fra-eng")
        return pairs
    return _check_pairs(pairs_or_name)


def load_data_nmt(pairs_or_name, batch_size, num_steps, num_examples=600, *, token="word",
                  split="train", root=None, min_freq=2, src_vocab=None, tgt_vocab=None,
                  shuffle=True, seed=0, as_ndarray=True):
    """A loader of translation batches and the source and target vocabularies.

    Defined for the lessons on sequence to sequence learning, Bahdanau
    attention and the Transformer.

    Parameters
    ----------
    pairs_or_name : str or list of pairs
        A translation data set (``"fra-eng"``, read from ``root``) or
        ``(source, target)`` pairs (see :func:`tokenize_nmt`), e.g.
        ``reverse_pairs(2000)``.
    batch_size, num_steps : int
        ``num_steps`` is the padded length of sources and targets (``<eos>``
        included; longer ones are cut).
    num_examples : int or None
        The first pairs kept (the course's 600); None keeps all.
    token : {"word", "char"}
        How str sentences are split.
    split : str
        The data set's split (a name only).
    root : str or Path, optional
        Folder of the data sets (a name only).
    min_freq : int
        Rarer tokens read as ``<unk>`` (when the vocabularies are built here).
    src_vocab, tgt_vocab : Vocab, optional
        Reuse vocabularies (the training data's, for held-out pairs);
        default: built from these pairs with ``<pad>``, ``<bos>``, ``<eos>``.
    shuffle : bool
    seed : int
        The loader's order is a function of ``(seed, epoch)``.
    as_ndarray : bool
        Yield ``mxnet.nd.NDArray`` (default) or numpy arrays.

    Returns
    -------
    loader : ArrayLoader
        Batches ``((src, dec_input, src_valid_len), (label, label_valid_len))``.
    src_vocab, tgt_vocab : Vocab
    """
    _positive("num_steps", num_steps)
    source, target = tokenize_nmt(nmt_pairs(pairs_or_name, split, root), num_examples, token)
    if src_vocab is None:
        src_vocab = Vocab(source, min_freq=min_freq, reserved_tokens=list(RESERVED_TOKENS))
    if tgt_vocab is None:
        tgt_vocab = Vocab(target, min_freq=min_freq, reserved_tokens=list(RESERVED_TOKENS))
    X, y = nmt_arrays(source, target, src_vocab, tgt_vocab, num_steps)
    loader = ArrayLoader(X, y, batch_size, shuffle=shuffle, seed=seed, as_ndarray=as_ndarray)
    return loader, src_vocab, tgt_vocab


def _side(value, token):
    if isinstance(value, str):
        return tokenize(preprocess_nmt(value), token)[0]
    return [str(t) for t in value]


def _check_pairs(pairs):
    if not isinstance(pairs, (list, tuple)):
        raise ArgumentTypeError(f"load_data_nmt: expected a data set name or a list of "
                                f"(source, target) pairs, got {type(pairs).__name__}")
    if not pairs:
        raise ArgumentError("load_data_nmt: no sentence pairs; pass at least one")
    for i, pair in enumerate(pairs):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(
                isinstance(side, str) or (isinstance(side, (list, tuple)) and all(
                    isinstance(t, (str, numbers.Integral)) for t in side)) for side in pair):
            raise ArgumentTypeError(f"load_data_nmt: pair {i} is {pair!r:.80}; each pair must "
                                    f"be (source, target), each a str or a list of tokens")
    return list(pairs)


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ArgumentError(f"load_data_nmt: {name} must be a whole number >= 1, got {value!r}")
