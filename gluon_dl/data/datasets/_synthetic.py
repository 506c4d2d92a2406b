"""Synthetic data the lessons generate: deterministic functions of a seed.

Nothing here reads a file except :func:`digit_strips`, which cuts real
MNIST digits (the embedded 5,000 by default).
"""
import numbers

import numpy as np

from ...ctc import PAD
from ...errors import ArgumentError, ArgumentTypeError
from ..mnist import load_mnist


def synthetic_linear(w, b, n, noise=0.01, seed=0):
    """Samples of the linear model ``y = X w + b + noise``.

    Defined for the lesson on linear regression (d2l's ``synthetic_data``).

    Parameters
    ----------
    w : sequence of float
        True weights, one per feature.
    b : float
        True bias.
    n : int
        Number of samples.
    noise : float
        Standard deviation of the Gaussian noise added to ``y``.
    seed : int

    Returns
    -------
    X : numpy.ndarray, float32, shape (n, len(w))
        Standard normal features.
    y : numpy.ndarray, float32, shape (n, 1)
    """
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    _check_count("n", n)
    if not noise >= 0:
        raise ArgumentError(f"synthetic_linear: noise must be >= 0, got {noise}")
    rng = np.random.RandomState(seed)
    X = rng.normal(0, 1, (n, len(w)))
    y = X @ w + b + rng.normal(0, noise, n)
    return X.astype(np.float32), y.reshape(-1, 1).astype(np.float32)


def copy_pairs(n, length=(1, 8), vocab_size=10, seed=0):
    """``n`` pairs ``(tokens, tokens)``: the target repeats the source.

    Defined for the lessons on sequence to sequence learning and the
    Transformer, as the smallest task that needs the decoder to read the
    encoder.

    Parameters
    ----------
    n : int
    length : int or (int, int)
        Source length, or the inclusive range it is drawn from.
    vocab_size : int
        Tokens are ids ``0 .. vocab_size - 1``; reserve your own ids for
        ``<pad>``, ``<bos>`` and ``<eos>`` above them.
    seed : int

    Returns
    -------
    list of (list of int, list of int)
    """
    return [(s, list(s)) for s in _sequences(n, length, vocab_size, seed)]


def reverse_pairs(n, length=(1, 8), vocab_size=10, seed=0):
    """``n`` pairs ``(tokens, reversed tokens)``; arguments as :func:`copy_pairs`.

    Defined for the lessons on sequence to sequence learning and attention:
    the first target token depends on the last source token, which plain
    encoder-decoders find hard and attention finds easy.
    """
    return [(s, s[::-1]) for s in _sequences(n, length, vocab_size, seed)]


def addition_pairs(n, digits=3, seed=0):
    """``n`` pairs of strings ``("a+b", "sum")`` of numbers up to ``digits`` digits.

    Defined for the lessons on sequence to sequence learning (character
    level), e.g. ``("352+71", "423")``.
    """
    _check_count("n", n)
    _check_count("digits", digits)
    rng = np.random.RandomState(seed)
    a, b = rng.randint(0, 10 ** digits, (2, n))
    return [(f"{x}+{y}", str(x + y)) for x, y in zip(a.tolist(), b.tolist())]


def adding_problem(n, T=64, seed=0):
    """Hochreiter and Schmidhuber's adding problem.

    Defined for the lesson on temporal convolutional networks.  Each sample
    is two channels of ``T`` steps: values uniform in ``[0, 1)`` and a
    marker channel with two ones, one in each half of the sequence; the
    target is the sum of the two marked values.

    Returns
    -------
    X : numpy.ndarray, float32, shape (n, 2, T)
        Layout ``NCW``, what :mod:`gluon_dl.models.tcn` takes.
    y : numpy.ndarray, float32, shape (n,)
    """
    _check_count("n", n)
    if not isinstance(T, numbers.Integral) or T < 2:
        raise ArgumentError(f"adding_problem: T must be an integer >= 2, got {T!r}")
    rng = np.random.RandomState(seed)
    values = rng.rand(n, T)
    first, second = rng.randint(0, T // 2, n), rng.randint(T // 2, T, n)
    markers = np.zeros((n, T))
    markers[np.arange(n), first] = markers[np.arange(n), second] = 1
    y = values[np.arange(n), first] + values[np.arange(n), second]
    return np.stack([values, markers], axis=1).astype(np.float32), y.astype(np.float32)


def digit_strips(n, num_digits=(1, 4), X=None, y=None, height=28, seed=0):
    """Images of MNIST digits side by side and their digit sequences, for CTC.

    Defined for the lesson on text recognition (CRNN trained with CTC).

    Parameters
    ----------
    n : int
        Number of strips.
    num_digits : int or (int, int)
        Digits per strip, or the inclusive range it is drawn from.
    X, y : numpy.ndarray, optional
        uint8 digit images ``(N, H, W)`` and labels; default the 5,000 embedded
        MNIST digits (:func:`gluon_dl.data.load_mnist`).
    height : int
        Strip height >= 28; the digits are centred vertically (CRNN takes 32).
    seed : int

    Returns
    -------
    strips : numpy.ndarray, uint8, shape (n, height, 28 * max_digits)
        Shorter strips are padded with black on the right.
    labels : numpy.ndarray, int32, shape (n, max_digits)
        Digit sequences padded with ``-1`` (:data:`gluon_dl.ctc.PAD`).
    """
    _check_count("n", n)
    lo, hi = _range("num_digits", num_digits)
    X, y = _digits(X, y)
    if not isinstance(height, numbers.Integral) or height < X.shape[1]:
        raise ArgumentError(f"digit_strips: height must be an integer >= {X.shape[1]}, "
                            f"got {height!r}")
    rng = np.random.RandomState(seed)
    h, w = X.shape[1:3]
    top = (height - h) // 2
    strips = np.zeros((n, height, w * hi), dtype=np.uint8)
    labels = np.full((n, hi), PAD, dtype=np.int32)
    for i, k in enumerate(rng.randint(lo, hi + 1, n)):
        picks = rng.randint(0, len(X), k)
        strips[i, top:top + h, :w * k] = np.concatenate(list(X[picks]), axis=1)
        labels[i, :k] = y[picks]
    return strips, labels


def _digits(X, y):
    """The digit images and labels to cut strips from: the arguments, or the embedded MNIST."""
    if X is None and y is None:
        return load_mnist()
    if X is None or y is None or np.ndim(X) != 3 or np.ndim(y) != 1 or len(X) != len(y) \
            or not len(X):
        raise ArgumentError(f"digit_strips: pass both X (N, H, W) images and y (N,) labels, or "
                            f"neither; got X {np.shape(X)} and y {np.shape(y)}")
    return np.asarray(X), np.asarray(y)


def _sequences(n, length, vocab_size, seed):
    _check_count("n", n)
    _check_count("vocab_size", vocab_size)
    lo, hi = _range("length", length)
    rng = np.random.RandomState(seed)
    return [rng.randint(0, vocab_size, k).tolist() for k in rng.randint(lo, hi + 1, n)]


def _range(name, value):
    """``(lo, hi)`` of an int or an inclusive pair of ints, both >= 1."""
    if isinstance(value, numbers.Integral):
        lo = hi = value
    else:
        try:
            lo, hi = value
        except (TypeError, ValueError):
            raise ArgumentTypeError(f"{name} must be a whole number or a (low, high) pair, "
                                    f"got {value!r}") from None
    for v in (lo, hi):
        _check_count(name, v)
    if lo > hi:
        raise ArgumentError(f"{name}: the range {value} is empty; pass (low, high) with "
                            f"low <= high")
    return int(lo), int(hi)


def _check_count(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be a whole number, got {value!r}")
    if value < 1:
        raise ArgumentError(f"{name} must be at least 1, got {value}")
