"""Deterministic train/held-out splits."""
import numbers

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError


def train_test_split(X, y, test_size, seed=0, stratify=True):
    """Split arrays into a training part and a held-out part.

    Parameters
    ----------
    X, y : numpy.ndarray
        Samples and labels of equal length.
    test_size : int or float
        Held-out samples: a count, or a fraction of ``len(X)``.
    seed : int
        Seed of the permutation; the same seed gives the same split.
    stratify : bool
        Keep each class's share equal in both parts.

    Returns
    -------
    X_train, X_test, y_train, y_test
    """
    n = _check_lengths(X, y)
    n_test = _test_count(test_size, n)
    rng = np.random.RandomState(seed)
    if stratify:
        test_idx = _stratified_indices(y, n_test, rng)
    else:
        test_idx = rng.permutation(n)[:n_test]
    mask = np.zeros(n, dtype=bool)
    mask[test_idx] = True
    train_idx = rng.permutation(np.flatnonzero(~mask))
    test_idx = np.sort(test_idx)
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def _stratified_indices(y, n_test, rng):
    classes, counts = np.unique(y, return_counts=True)
    share = counts / counts.sum() * n_test
    take = np.floor(share).astype(int)
    # Hand the remaining samples to the classes with the largest remainders.
    for i in np.argsort(-(share - take))[: n_test - take.sum()]:
        take[i] += 1
    picked = [rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, take)]
    return np.concatenate(picked)


def _check_lengths(X, y):
    try:
        n, n_labels = len(X), len(y)
    except TypeError:
        raise ArgumentTypeError(f"train_test_split: X and y must be arrays, got "
                                f"{type(X).__name__} and {type(y).__name__}") from None
    if n != n_labels:
        raise ArgumentError(f"train_test_split: {n} samples but {n_labels} labels; pass one "
                            f"label per sample")
    if n < 2:
        raise ArgumentError(f"train_test_split: {n} samples cannot be split into a training "
                            f"and a held-out part; pass at least 2")
    return n


def _test_count(test_size, n):
    """Held-out samples for ``test_size`` (a count or a fraction) out of ``n``."""
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise ArgumentTypeError(f"train_test_split: test_size must be a count or a fraction, "
                                f"got {test_size!r}")
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
    elif 0 < test_size < 1:
        n_test = int(round(test_size * n))
    else:
        raise ArgumentError(f"train_test_split: a fractional test_size must lie between 0 and "
                            f"1, got {test_size}")
    if not 0 < n_test < n:
        raise ArgumentError(f"train_test_split: test_size={test_size} leaves no training or no "
                            f"held-out samples out of {n}; choose 1..{n - 1} samples")
    return n_test
