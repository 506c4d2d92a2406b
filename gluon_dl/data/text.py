"""The course's text toolkit: tokens, vocabularies, padding and language-model batches.

Defined for the lessons on text preprocessing, language models, RNNs,
machine translation and BERT::

    loader, vocab = load_data_lm("python-docs", batch_size=32, num_steps=35)
    fit(get_model("gru_lm", vocab_size=len(vocab)), loader, 10, ...)

Everything here is plain Python and numpy (MXNet only when a loader yields
NDArrays), so a vocabulary can be rebuilt from its JSON where no MXNet is
installed.

Why not ``gluonnlp.Vocab``: it orders tokens the same way (unknown first,
then the reserved tokens, then by falling count, ties by token) but it is an
optional extra that imports MXNet, refuses ``min_freq=0`` (the course's
default) and keeps no counts; this class keeps the course's attribute names
and round-trips through JSON.
"""
import collections
import numbers
import re

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, DataError

__all__ = ["LMLoader", "Vocab", "build_array", "lm_corpus", "load_data_lm", "normalize_text",
           "seq_data_iter_random", "seq_data_iter_sequential", "tokenize", "truncate_pad",
           "unigram_perplexity"]

UNK = "<unk>"
TOKENS = ("word", "char")
VOCAB_FORMAT = "gluon-dl-vocab/1"
_NOT_LETTERS = re.compile(r"[^A-Za-z]+")


# ---------------------------------------------------------------- tokens

def normalize_text(text):
    """The course's cleaning: non-empty lines, lowercase, every run of non-letters one space.

    Defined for the lesson on text preprocessing (``read_time_machine``),
    which keeps 26 letters and the space, so a character vocabulary has 28
    entries with ``<unk>``.
    """
    if not isinstance(text, str):
        raise ArgumentTypeError(f"normalize_text takes a str, got {type(text).__name__}")
    lines = (_NOT_LETTERS.sub(" ", line).strip().lower() for line in text.splitlines())
    return [line for line in lines if line]


def tokenize(lines, token="word"):
    """Split each line into tokens: words (split on whitespace) or characters.

    Defined for the lesson on text preprocessing.

    Parameters
    ----------
    lines : str or list of str
        One line, or a list of lines; clean them first (:func:`normalize_text`).
    token : {"word", "char"}

    Returns
    -------
    list of list of str
        One token list per line.
    """
    if token not in TOKENS:
        raise ArgumentError(f"tokenize: token must be one of {', '.join(TOKENS)}, got {token!r}")
    if isinstance(lines, str):
        lines = [lines]
    elif not isinstance(lines, (list, tuple)):
        raise ArgumentTypeError(f"tokenize: lines must be a str or a list of str, got "
                                f"{type(lines).__name__}")
    for i, line in enumerate(lines):
        if not isinstance(line, str):
            raise ArgumentTypeError(f"tokenize: line {i} is a {type(line).__name__}, not a str")
    return [line.split() if token == "word" else list(line) for line in lines]


# ---------------------------------------------------------------- vocabulary

class Vocab:
    """Tokens <-> indices: ``<unk>`` at 0, then the reserved tokens, then by falling count.

    Defined for the lesson on text preprocessing; used by every language
    model, translation and BERT lesson.  Ties in count are broken by the
    token, so the order is the same on every run.

    Parameters
    ----------
    tokens : list of str, or list of list of str, optional
        The corpus; lists of tokens (lines) are counted together.
    min_freq : int
        Tokens seen fewer times are left out (they read as ``<unk>``).
    reserved_tokens : list of str, optional
        Tokens placed right after ``<unk>`` in this order, e.g.
        ``["<pad>", "<bos>", "<eos>"]``.

    Attributes
    ----------
    idx_to_token : list of str
    token_to_idx : dict
    token_freqs : list of (str, int)
        Every token of the corpus (also those under ``min_freq``) with its
        count, most frequent first.
    """

    def __init__(self, tokens=None, min_freq=0, reserved_tokens=None):
        if isinstance(min_freq, bool) or not isinstance(min_freq, numbers.Integral) \
                or min_freq < 0:
            raise ArgumentError(f"Vocab: min_freq must be an integer >= 0, got {min_freq!r}")
        self._build(collections.Counter(_flat_tokens(tokens)), min_freq,
                    _check_reserved(reserved_tokens))

    def _build(self, counter, min_freq, reserved):
        self.token_freqs = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        self.reserved_tokens = reserved
        self.min_freq = int(min_freq)
        taken = {UNK, *reserved}
        self.idx_to_token = [UNK] + reserved + [
            t for t, n in self.token_freqs if n >= min_freq and t not in taken]
        self.token_to_idx = {t: i for i, t in enumerate(self.idx_to_token)}

    def __len__(self):
        return len(self.idx_to_token)

    def __contains__(self, token):
        return token in self.token_to_idx

    def __getitem__(self, tokens):
        """The index of a token (0 when unknown), or a list of indices for a list of tokens."""
        if isinstance(tokens, (list, tuple)):
            return [self[t] for t in tokens]
        return self.token_to_idx.get(tokens, 0)

    def __eq__(self, other):
        return isinstance(other, Vocab) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return f"Vocab({len(self)} tokens, reserved={self.reserved_tokens})"

    @property
    def unk(self):
        """The index of ``<unk>``: 0."""
        return 0

    def to_tokens(self, indices):
        """The token of an index, or the tokens of a list (or array) of indices."""
        if isinstance(indices, np.ndarray):
            indices = indices.tolist()
        if isinstance(indices, (list, tuple)):
            return [self.to_tokens(i) for i in indices]
        if isinstance(indices, bool) or not isinstance(indices, numbers.Integral) \
                or not 0 <= indices < len(self):
            raise ArgumentError(f"Vocab.to_tokens: {indices!r} is no index of this vocabulary "
                                f"(0..{len(self) - 1})")
        return self.idx_to_token[int(indices)]

    def to_dict(self):
        """A JSON-ready description; :meth:`from_dict` rebuilds the same vocabulary."""
        return {"format": VOCAB_FORMAT, "min_freq": self.min_freq,
                "reserved_tokens": list(self.reserved_tokens),
                "token_freqs": [[t, n] for t, n in self.token_freqs]}

    @classmethod
    def from_dict(cls, data):
        """The vocabulary that :meth:`to_dict` described.

        Raises
        ------
        DataError
            ``data`` is not such a description.
        """
        try:
            ok = data["format"] == VOCAB_FORMAT and all(
                isinstance(t, str) and type(n) is int and n > 0 for t, n in data["token_freqs"])
            counts = {t: n for t, n in data["token_freqs"]}
            vocab = cls(min_freq=data["min_freq"], reserved_tokens=data["reserved_tokens"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"Vocab.from_dict: not a vocabulary written by Vocab.to_dict "
                            f"({type(exc).__name__}: {exc})") from None
        if not ok or len(counts) != len(data["token_freqs"]):
            raise DataError(f"Vocab.from_dict: not a vocabulary written by Vocab.to_dict "
                            f"(expected format {VOCAB_FORMAT!r} and distinct [token, count>0] "
                            f"pairs)")
        vocab._build(collections.Counter(counts), data["min_freq"], vocab.reserved_tokens)
        return vocab


def _flat_tokens(tokens):
    if tokens is None:
        return []
    if isinstance(tokens, str) or not isinstance(tokens, (list, tuple)):
        raise ArgumentTypeError(f"Vocab: tokens must be a list of str or a list of lists of "
                                f"str (tokenize's output), got {type(tokens).__name__}")
    flat = []
    for item in tokens:
        flat.extend(item if isinstance(item, (list, tuple)) else [item])
    bad = next((t for t in flat if not isinstance(t, str)), None)
    if bad is not None:
        raise ArgumentTypeError(f"Vocab: tokens must be str, found {bad!r} "
                                f"({type(bad).__name__})")
    return flat


def _check_reserved(reserved_tokens):
    reserved = list(reserved_tokens or [])
    bad = next((t for t in reserved if not isinstance(t, str)), None)
    if bad is not None or isinstance(reserved_tokens, str):
        raise ArgumentTypeError(f"Vocab: reserved_tokens must be a list of str, got "
                                f"{reserved_tokens!r}")
    if UNK in reserved or len(set(reserved)) != len(reserved):
        raise ArgumentError(f"Vocab: reserved_tokens {reserved} must be distinct and must not "
                            f"hold {UNK!r}, which is always index 0")
    return reserved


# ---------------------------------------------------------------- padding

def truncate_pad(line, num_steps, padding_token):
    """``line`` cut to ``num_steps`` items or filled up with ``padding_token``.

    Defined for the lesson on machine translation (minibatches of equal length).
    """
    _positive("truncate_pad", "num_steps", num_steps)
    line = list(line)
    return line[:num_steps] + [padding_token] * max(num_steps - len(line), 0)


def build_array(lines, vocab, num_steps, eos="<eos>", pad="<pad>"):
    """Token lines as a padded index array and the lines' valid lengths.

    Defined for the lesson on machine translation (the course's
    ``build_array_nmt``).  Each line gets ``eos`` appended (unless ``eos`` is
    None), is truncated or padded to ``num_steps`` and mapped to indices.

    Parameters
    ----------
    lines : list of list of str
    vocab : Vocab
        Must hold ``pad`` (and ``eos``) as reserved tokens.
    num_steps : int

    Returns
    -------
    array : numpy.ndarray
        int32 ``(len(lines), num_steps)``.
    valid_len : numpy.ndarray
        int32 ``(len(lines),)``: tokens before the padding, ``eos`` included.
    """
    _positive("build_array", "num_steps", num_steps)
    for special in (eos, pad):
        if special is not None and special not in vocab:
            raise ArgumentError(f"build_array: the vocabulary has no {special!r}; build it "
                                f"with reserved_tokens=['<pad>', '<bos>', '<eos>']")
    tail = [] if eos is None else [eos]
    rows = [truncate_pad(list(line) + tail, num_steps, pad) for line in lines]
    array = np.array([vocab[row] for row in rows], dtype=np.int32).reshape(-1, num_steps)
    valid_len = np.array([min(len(line) + len(tail), num_steps) for line in lines],
                         dtype=np.int32)
    return array, valid_len


# ---------------------------------------------------------------- language-model batches

class LMLoader:
    """Language-model minibatches ``(X, Y)``: ``Y`` is ``X`` shifted one token on.

    Defined for the lessons on language models and RNNs (the course's
    ``SeqDataLoader``).  ``X`` and ``Y`` are int32 ``(batch_size, num_steps)``.

    With ``random`` each epoch starts at a random offset below ``num_steps``,
    cuts the corpus into windows of ``num_steps`` and serves them in random
    order (random sampling); without it, the corpus is cut into
    ``batch_size`` rows read left to right, so row ``i`` of one batch
    continues row ``i`` of the batch before (sequential partitioning, the
    order that lets a model carry its state across batches).

    An epoch's order is a function of ``(seed, epoch)`` and its number of
    batches is the same every epoch (the fewest that any offset gives, so it
    is known before the epoch starts; the course's generators yield one more
    batch in some epochs).  :meth:`batches` can start at any batch, which
    exact resume in :func:`gluon_dl.training.fit` relies on.

    Parameters
    ----------
    corpus : sequence of int
        Token indices.
    batch_size, num_steps : int
    random : bool
        Random sampling (default) or sequential partitioning.
    seed : int
    offset : int, optional
        Start every epoch at this token instead of a random one; evaluation
        passes 0, so every evaluation reads the same windows.
    as_ndarray : bool
        Yield ``mxnet.nd.NDArray`` (default) instead of numpy arrays.
    num_shards, shard : int
        Data-parallel workers: each takes rows ``shard::num_shards`` of every batch.
    """

    def __init__(self, corpus, batch_size, num_steps, random=True, seed=0, as_ndarray=True,
                 num_shards=1, shard=0, offset=None):
        for name, value in (("batch_size", batch_size), ("num_steps", num_steps),
                            ("num_shards", num_shards)):
            _positive("LMLoader", name, value)
        if isinstance(shard, bool) or not isinstance(shard, numbers.Integral) \
                or not 0 <= shard < num_shards or num_shards > batch_size:
            raise ArgumentError(f"LMLoader: shard {shard!r} must be in 0..{num_shards - 1} and "
                                f"num_shards ({num_shards}) at most batch_size ({batch_size})")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) \
                or not 0 <= seed < 2 ** 32:
            raise ArgumentError(f"LMLoader: seed must be an integer from 0 to {2 ** 32 - 1}, "
                                f"got {seed!r}")
        if offset is not None and (isinstance(offset, bool) or not isinstance(
                offset, numbers.Integral) or offset < 0):
            raise ArgumentError(f"LMLoader: offset must be None or an integer >= 0, "
                                f"got {offset!r}")
        self.corpus = _as_corpus(corpus)
        self.offset = offset
        self.batch_size, self.num_steps, self.random = batch_size, num_steps, bool(random)
        self.seed, self.as_ndarray = seed, as_ndarray
        self.num_shards, self.shard = num_shards, shard
        self.epoch = 0
        worst = offset if offset is not None else num_steps - 1 if self.random else num_steps
        self._len = _num_batches(len(self.corpus), batch_size, num_steps, self.random, worst)
        if self._len < 1:
            need = batch_size * num_steps + worst + 1
            raise ArgumentError(f"LMLoader: a corpus of {len(self.corpus)} tokens makes no "
                                f"batch of {batch_size} x {num_steps}; it needs at least {need} "
                                f"tokens (use a smaller batch_size or num_steps, or more text)")

    def __len__(self):
        return self._len

    def batches(self, epoch, start=0):
        """Yield the ``(X, Y)`` batches of ``epoch`` from batch index ``start`` on."""
        rng = np.random.RandomState([self.seed, epoch])
        plan = _random_plan if self.random else _sequential_plan
        if self.offset is not None:
            offset = self.offset
        else:  # the course's offsets: 0..num_steps - 1 (random), 0..num_steps (sequential)
            offset = rng.randint(0, self.num_steps + (0 if self.random else 1))
        for X, Y in plan(self.corpus, self.batch_size, self.num_steps, rng, offset, self._len,
                         start):
            if self.num_shards > 1:
                X, Y = X[self.shard::self.num_shards], Y[self.shard::self.num_shards]
            yield self._wrap(X), self._wrap(Y)

    def __iter__(self):
        yield from self.batches(self.epoch)
        self.epoch += 1

    def _wrap(self, a):
        if not self.as_ndarray:
            return a
        import mxnet as mx
        return mx.nd.array(a, dtype=a.dtype)


def seq_data_iter_random(corpus, batch_size, num_steps, seed=0):
    """Random sampling: ``(X, Y)`` numpy batches of random windows (see :class:`LMLoader`).

    Defined for the lesson on language models.
    """
    return iter(LMLoader(corpus, batch_size, num_steps, True, seed, as_ndarray=False))


def seq_data_iter_sequential(corpus, batch_size, num_steps, seed=0):
    """Sequential partitioning: ``(X, Y)`` numpy batches that continue row by row.

    Defined for the lesson on language models (see :class:`LMLoader`).
    """
    return iter(LMLoader(corpus, batch_size, num_steps, False, seed, as_ndarray=False))


def load_data_lm(text_or_name, batch_size, num_steps, token="char", max_tokens=None,
                 random=True, seed=0, vocab=None, split="train", root=None, offset=None):
    """A language-model loader and its vocabulary (the course's ``load_data_time_machine``).

    Defined for the lessons on language models and RNNs.  The text is cleaned
    by :func:`normalize_text`; with ``token="char"`` its lines are joined by
    a space, so a line's last word does not run into the next one's first.

    Parameters
    ----------
    text_or_name : str
        The name of a registered text set that loads as one str
        (``"python-docs"``, ``"time-machine"``, ``"wikitext-2"``), or the text.
    batch_size, num_steps : int
    token : {"char", "word"}
    max_tokens : int, optional
        Keep the first ``max_tokens`` tokens of the corpus.
    random, seed, offset :
        See :class:`LMLoader`.
    vocab : Vocab, optional
        Reuse a vocabulary (a validation split's loader takes the training one's).
    split, root :
        Passed to :func:`gluon_dl.data.load_dataset` for a set's name.

    Returns
    -------
    (LMLoader, Vocab)
    """
    if token not in TOKENS:
        raise ArgumentError(f"load_data_lm: token must be one of {', '.join(TOKENS)}, "
                            f"got {token!r}")
    corpus, vocab = lm_corpus(_text(text_or_name, split, root), token, max_tokens, vocab)
    return LMLoader(corpus, batch_size, num_steps, random, seed, offset=offset), vocab


def lm_corpus(text, token="char", max_tokens=None, vocab=None):
    """``(corpus, vocab)``: the cleaned text's token indices (int32) and their vocabulary."""
    if max_tokens is not None:
        _positive("load_data_lm", "max_tokens", max_tokens)
    lines = normalize_text(text)
    if not lines:
        raise DataError("load_data_lm: the text has no letters, so there is nothing to model")
    tokens = tokenize(" ".join(lines) if token == "char" else lines, token)
    flat = [t for line in tokens for t in line][:max_tokens]
    if vocab is None:
        vocab = Vocab(flat)
    elif not isinstance(vocab, Vocab):
        raise ArgumentTypeError(f"load_data_lm: vocab must be a gluon_dl.data.Vocab, got "
                                f"{type(vocab).__name__}")
    return np.array(vocab[flat], dtype=np.int32), vocab


def unigram_perplexity(train_corpus, test_corpus, vocab_size):
    """Perplexity on ``test_corpus`` of token frequencies counted on ``train_corpus``.

    Defined for the lessons on language models and RNNs: the bar a model that
    ignores context reaches, so a language model must get well below it to
    show it learned from context.  Counts are add-one smoothed, so a token
    unseen in training costs a finite amount.
    """
    _positive("unigram_perplexity", "vocab_size", vocab_size)
    train, test = _as_corpus(train_corpus), _as_corpus(test_corpus)
    if not len(test) or (len(train) and train.max() >= vocab_size) or \
            (test.max() >= vocab_size):
        raise ArgumentError(f"unigram_perplexity: needs a non-empty test corpus of indices "
                            f"below vocab_size={vocab_size}")
    counts = np.bincount(train, minlength=vocab_size) + 1.0
    log_p = np.log(counts / counts.sum())
    return float(np.exp(-log_p[test].mean()))


def _text(text_or_name, split, root):
    from .datasets import dataset_info, list_datasets, load_dataset

    if not isinstance(text_or_name, str):
        raise ArgumentTypeError(f"load_data_lm: expected a text or a data set name, got "
                                f"{type(text_or_name).__name__}")
    key = text_or_name.strip().lower().replace("_", "-")
    if "\n" in text_or_name or key not in list_datasets():
        return text_or_name
    if dataset_info(key).kind != "text":
        raise ArgumentError(f"load_data_lm: data set '{key}' is a {dataset_info(key).kind} "
                            f"set; give a text set such as python-docs or time-machine")
    text = load_dataset(key, split=split, root=root)
    if not isinstance(text, str):
        raise ArgumentError(f"load_data_lm: data set '{key}' loads as "
                            f"{type(text).__name__}, not one text; use a corpus such as "
                            f"python-docs, time-machine or wikitext-2")
    return text


def _random_plan(corpus, batch_size, num_steps, rng, offset, num_batches, start):
    num_windows = (len(corpus) - offset - 1) // num_steps
    starts = offset + num_steps * np.arange(num_windows)
    rng.shuffle(starts)
    steps = np.arange(num_steps)
    for b in range(start, num_batches):
        idx = starts[b * batch_size:(b + 1) * batch_size, None] + steps
        yield corpus[idx], corpus[idx + 1]


def _sequential_plan(corpus, batch_size, num_steps, rng, offset, num_batches, start):
    row_len = (len(corpus) - offset - 1) // batch_size
    rows = offset + row_len * np.arange(batch_size)[:, None]
    for b in range(start, num_batches):
        idx = rows + b * num_steps + np.arange(num_steps)
        yield corpus[idx], corpus[idx + 1]


def _num_batches(n, batch_size, num_steps, random, offset):
    """Batches per epoch from ``offset`` on: windows, or rows, of the tokens left."""
    left = max(n - offset - 1, 0)  # the last token is only ever a target
    if random:
        return left // num_steps // batch_size
    return left // batch_size // num_steps


def _as_corpus(corpus):
    try:
        array = np.asarray(corpus)
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"LMLoader: corpus must be a sequence of token indices "
                                f"({exc})") from None
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise ArgumentTypeError(f"LMLoader: corpus must be a flat sequence of integer token "
                                f"indices, got an array of {array.dtype} with shape "
                                f"{array.shape}")
    return array.astype(np.int32)


def _positive(where, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ArgumentError(f"{where}: {name} must be a whole number >= 1, got {value!r}")
    return value

