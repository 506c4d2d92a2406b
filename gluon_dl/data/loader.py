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
    X, y : numpy.ndarray, or tuple of numpy.ndarray
        Samples (already transformed) and labels.  A tuple of arrays (all with
        the same length on axis 0) yields a tuple per batch, in the same
        order: the several inputs of a network (``net(*X)`` in
        :func:`gluon_dl.training.fit`, e.g. a Transformer's source, target
        and valid length) or the several targets of its loss.  Only a
        ``tuple`` means several arrays; a list is one array.
    batch_size : int
    shuffle : bool
        Reshuffle every epoch; the order depends only on ``seed`` and the epoch.
    seed : int
    last_batch : {"keep", "discard"}
        What to do with a final short batch.
    transform : callable, optional
        ``transform(X_batch) -> X_batch`` applied to every batch (vectorized),
        e.g. ``functools.partial(to_model_input, config=cfg)``.  With several
        inputs it applies to the first one only, the model's main input
        (images, say); the others (token ids, lengths, masks) pass unchanged.
    augment : callable, optional
        ``augment(X_batch, rng) -> X_batch`` applied before ``transform``; the
        ``numpy.random.RandomState`` depends only on seed, epoch and batch.
        With several inputs, to the first one only, like ``transform``.
    as_ndarray : bool
        Yield ``mxnet.nd.NDArray`` (default) instead of numpy arrays.
    num_shards, shard : int
        For data-parallel workers: every worker walks the same global batches
        (``batch_size`` samples) and takes rows ``shard::num_shards`` of each
        (of every input and target alike), so together they see exactly what
        one process would.
    """

    def __init__(self, X, y, batch_size, shuffle=False, seed=0, last_batch="keep",
                 transform=None, augment=None, as_ndarray=True, num_shards=1, shard=0):
        _check_arguments(X, y, batch_size, last_batch, num_shards, shard)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) \
                or not 0 <= seed < 2 ** 32:  # numpy's RandomState would refuse it only now
            raise ArgumentError(f"ArrayLoader: seed must be an integer from 0 to "
                                f"{2 ** 32 - 1}, got {seed!r}")
        self.X, self.y = X, y
        self._n = len(_arrays(X)[0])
        self.batch_size = batch_size
        self.shuffle, self.seed, self.last_batch = shuffle, seed, last_batch
        self.num_shards, self.shard = num_shards, shard
        self.transform, self.augment = transform, augment
        self.as_ndarray = as_ndarray
        self.epoch = 0

    def __len__(self):
        n = self._n / self.batch_size
        return math.floor(n) if self.last_batch == "discard" else math.ceil(n)

    def order(self, epoch):
        """Sample order of ``epoch`` (a pure function of seed and epoch)."""
        if not self.shuffle:
            return np.arange(self._n)
        return np.random.RandomState([self.seed, epoch]).permutation(self._n)

    def batches(self, epoch, start=0):
        """Yield the batches of ``epoch`` from batch index ``start`` on."""
        idx = self.order(epoch)
        for b in range(start, len(self)):
            sel = idx[b * self.batch_size:(b + 1) * self.batch_size]
            xs = [a[sel] for a in _arrays(self.X)]
            if self.augment is not None:
                xs[0] = self.augment(xs[0], np.random.RandomState([self.seed, epoch, b, 1]))
            if self.num_shards > 1:
                xs = [x[self.shard::self.num_shards] for x in xs]
                sel = sel[self.shard::self.num_shards]
            if self.transform is not None:
                xs[0] = self.transform(xs[0])
            ys = [a[sel] for a in _arrays(self.y)]
            yield self._pack(self.X, xs), self._pack(self.y, ys)

    def __iter__(self):
        yield from self.batches(self.epoch)
        self.epoch += 1

    def _pack(self, given, parts):
        """One array, or a tuple when the loader was given a tuple."""
        parts = [self._wrap(p) for p in parts]
        return tuple(parts) if isinstance(given, tuple) else parts[0]

    def _wrap(self, a):
        if not self.as_ndarray:
            return a
        import mxnet as mx
        return mx.nd.array(a, dtype=a.dtype)


def _arrays(value):
    """``value`` as a list of arrays: the items of a tuple, else ``[value]``."""
    return list(value) if isinstance(value, tuple) else [value]


def _length(value, what):
    """Rows of ``value`` (the common length of a tuple's arrays), checked."""
    parts = _arrays(value)
    if not parts:
        raise ArgumentError(f"ArrayLoader: {what} is an empty tuple; pass an array or a "
                            f"tuple of arrays")
    try:
        lengths = [len(a) for a in parts]
    except TypeError:
        bad = next(a for a in parts if not hasattr(a, "__len__"))
        raise ArgumentTypeError(f"ArrayLoader: X and y must be arrays or tuples of arrays, "
                                f"{what} holds a {type(bad).__name__}") from None
    if len(set(lengths)) > 1:
        i = next(i for i, n in enumerate(lengths) if n != lengths[0])
        raise ArgumentError(f"ArrayLoader: the arrays of {what} differ in length on axis 0: "
                            f"{what}[0] has {lengths[0]} rows, {what}[{i}] has {lengths[i]}; "
                            f"give every array one row per sample")
    return lengths[0]


def _check_arguments(X, y, batch_size, last_batch, num_shards, shard):
    """Refuse arguments that would make an empty or a broken epoch."""
    n, n_labels = _length(X, "X"), _length(y, "y")
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
