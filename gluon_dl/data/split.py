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
    X, y = (np.asarray(a) if isinstance(a, (list, tuple)) else a for a in (X, y))
    n = _check_lengths(X, y)
    n_test = _test_count(test_size, n)
    rng = np.random.RandomState(_check_seed(seed))
    if stratify:
        test_idx = _stratified_indices(_class_labels(y), n_test, rng)
    else:
        test_idx = rng.permutation(n)[:n_test]
    mask = np.zeros(n, dtype=bool)
    mask[test_idx] = True
    train_idx = rng.permutation(np.flatnonzero(~mask))
    test_idx = np.sort(test_idx)
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def _stratified_indices(y, n_test, rng):
    # Classes by index (``inverse``): NaN labels or strings compare unreliably with ==.
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    share = counts / counts.sum() * n_test
    take = np.floor(share).astype(int)
    left = n_test - take.sum()
    if left:
        # Hand the remaining samples to the classes with the largest remainders, ties
        # in random order: in sorted order, distinct targets (a regression) would put
        # the smallest values in the held-out part whatever the seed.
        order = rng.permutation(len(counts))
        for i in order[np.argsort(-(share - take)[order], kind="stable")][:left]:
            take[i] += 1
    picked = [rng.permutation(np.flatnonzero(inverse == c))[:k] for c, k in enumerate(take)]
    return np.concatenate(picked)


def _class_labels(y):
    """``y`` as one label per sample, which stratifying needs."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ArgumentError(f"train_test_split: stratify needs one class label per sample, got "
                            f"labels of shape {y.shape}; pass class indices (y.argmax(axis=1) "
                            f"for one-hot labels) or stratify=False")
    return y


def _check_seed(seed):
    """``seed`` as numpy's RandomState takes it: None, or an integer 0..2**32 - 1."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) \
            or not 0 <= seed < 2 ** 32:
        raise ArgumentError(f"train_test_split: seed must be an integer from 0 to "
                            f"{2 ** 32 - 1}, got {seed!r}")
    return int(seed)


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
