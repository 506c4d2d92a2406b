"""Fast in-memory batch iteration over numpy arrays.

Gluon's ``DataLoader`` applies transforms sample by sample in Python; for
data that fits in memory a vectorized loader is many times faster and its
order is a pure function of ``(seed, epoch)``, which exact resume relies on.
"""
import math

import numpy as np


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
        if len(X) != len(y):
            raise ValueError(f"ArrayLoader: {len(X)} samples but {len(y)} labels")
        if batch_size <= 0:
            raise ValueError(f"ArrayLoader: batch_size must be positive, got {batch_size}")
        if last_batch not in ("keep", "discard"):
            raise ValueError(f"ArrayLoader: last_batch must be 'keep' or 'discard', "
                             f"got {last_batch!r}")
        self.X, self.y = X, y
        self.batch_size = batch_size
        self.shuffle, self.seed, self.last_batch = shuffle, seed, last_batch
        if not 0 <= shard < num_shards:
            raise ValueError(f"ArrayLoader: shard {shard} is outside 0..{num_shards - 1}")
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
