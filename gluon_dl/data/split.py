"""Deterministic train/held-out splits."""
import numpy as np


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
    n = len(X)
    n_test = int(round(test_size * n)) if isinstance(test_size, float) else int(test_size)
    if not 0 < n_test < n:
        raise ValueError(f"test_size={test_size} leaves no training or no held-out samples "
                         f"out of {n}")
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
