"""Fast in-memory batch iteration over numpy arrays.

Gluon's ``DataLoader`` applies transforms sample by sample in Python; for
data that fits in memory a vectorized loader is many times faster and its
order is a pure function of ``(seed, epoch)``, which exact resume relies on.
"""
import math
import numbers

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError


class ArrayLoader:
    """Iterate ``(data, label)`` mini-batches of in-memory arrays.

    Parameters
    ----------
    X, y : numpy.ndarray
        Samples (already transformed) and labels.
    batch_size : int
    shuffle : bool
        Reshuffle every epoch; the order depends only on ``seed`` and the epoch.
    seed : int
    last_batch : {"keep", "discard"}
        What to do with a final short batch.
    transform : callable, optional
        ``transform(X_batch) -> X_batch`` applied to every batch (vectorized),
        e.g. ``functools.partial(to_model_input, config=cfg)``.
    augment : callable, optional
        ``augment(X_batch, rng) -> X_batch`` applied before ``transform``; the
        ``numpy.random.RandomState`` depends only on seed, epoch and batch.
    as_ndarray : bool
        Yield ``mxnet.nd.NDArray`` (default) instead of numpy arrays.
    num_shards, shard : int
        For data-parallel workers: every worker walks the same global batches
        (``batch_size`` samples) and takes rows ``shard::num_shards`` of each,
        so together they see exactly what one process would.
    """

    def __init__(self, X, y, batch_size, shuffle=False, seed=0, last_batch="keep",
                 transform=None, augment=None, as_ndarray=True, num_shards=1, shard=0):
        _check_arguments(X, y, batch_size, last_batch, num_shards, shard)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) \
                or not 0 <= seed < 2 ** 32:  # numpy's RandomState would refuse it only now
            raise ArgumentError(f"ArrayLoader: seed must be an integer from 0 to "
                                f"{2 ** 32 - 1}, got {seed!r}")
        self.X, self.y = X, y
        self.batch_size = batch_size
        self.shuffle, self.seed, self.last_batch = shuffle, seed, last_batch
        self.num_shards, self.shard = num_shards, shard
        self.transform, self.augment = transform, augment
        self.as_ndarray = as_ndarray
        self.epoch = 0

    def __len__(self):
        n = len(self.X) / self.batch_size
        return math.floor(n) if self.last_batch == "discard" else math.ceil(n)

    def order(self, epoch):
        """Sample order of ``epoch`` (a pure function of seed and epoch)."""
        if not self.shuffle:
            return np.arange(len(self.X))
        return np.random.RandomState([self.seed, epoch]).permutation(len(self.X))

    def batches(self, epoch, start=0):
        """Yield the batches of ``epoch`` from batch index ``start`` on."""
        idx = self.order(epoch)
        for b in range(start, len(self)):
            sel = idx[b * self.batch_size:(b + 1) * self.batch_size]
            xb = self.X[sel]
            if self.augment is not None:
                xb = self.augment(xb, np.random.RandomState([self.seed, epoch, b, 1]))
            if self.num_shards > 1:
                xb, sel = xb[self.shard::self.num_shards], sel[self.shard::self.num_shards]
            if self.transform is not None:
                xb = self.transform(xb)
            yield self._wrap(xb), self._wrap(self.y[sel])

    def __iter__(self):
        yield from self.batches(self.epoch)
        self.epoch += 1

    def _wrap(self, a):
        if not self.as_ndarray:
            return a
        import mxnet as mx
        return mx.nd.array(a, dtype=a.dtype)


def _check_arguments(X, y, batch_size, last_batch, num_shards, shard):
    """Refuse arguments that would make an empty or a broken epoch."""
    try:
        n, n_labels = len(X), len(y)
    except TypeError:
        raise ArgumentTypeError(f"ArrayLoader: X and y must be arrays, got {type(X).__name__} "
                                f"and {type(y).__name__}") from None
    for name, value in (("batch_size", batch_size), ("num_shards", num_shards),
                        ("shard", shard)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ArgumentTypeError(f"ArrayLoader: {name} must be an integer, got {value!r}")
    if n != n_labels:
        raise ArgumentError(f"ArrayLoader: {n} samples but {n_labels} labels")
    if n == 0:
        raise ArgumentError("ArrayLoader: no samples (X is empty); pass at least one")
    if batch_size <= 0:
        raise ArgumentError(f"ArrayLoader: batch_size must be positive, got {batch_size}")
    if last_batch not in ("keep", "discard"):
        raise ArgumentError(f"ArrayLoader: last_batch must be 'keep' or 'discard', "
                            f"got {last_batch!r}")
    if last_batch == "discard" and n < batch_size:
        raise ArgumentError(f"ArrayLoader: {n} samples make no full batch of {batch_size}, so "
                            f"last_batch='discard' leaves nothing; use a smaller batch_size")
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ArgumentError(f"ArrayLoader: shard {shard} is outside 0..{num_shards - 1}")
    if num_shards > batch_size:
        raise ArgumentError(f"ArrayLoader: {num_shards} shards of a batch of {batch_size} "
                            f"leave some shards empty; use batch_size >= num_shards")
