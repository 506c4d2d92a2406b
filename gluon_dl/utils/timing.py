"""The course's small bookkeeping helpers: a stopwatch and running sums.

Standard library only, so they work anywhere (no MXNet, no numpy).
"""
import itertools
import numbers
import time

from ..errors import ArgumentError

__all__ = ["Accumulator", "Timer"]


class Timer:
    """A stopwatch that records the length of every run.

    Defined for the lesson on linear regression (vectorization for speed);
    the training loops of later lessons report examples per second with it.
    The clock starts when the timer is made, as in the course; ``with
    timer:`` times the block (start on entry, stop on exit).

    Parameters
    ----------
    clock : callable, optional
        Returns the time in seconds; default :func:`time.perf_counter`.

    Examples
    --------
    >>> timer = Timer()
    >>> with timer:
    ...     work()
    >>> timer.sum(), timer.avg()
    """

    def __init__(self, clock=time.perf_counter):
        self._clock = clock
        self.times = []
        self.start()

    def start(self):
        """Start (or restart) the clock."""
        self.tik = self._clock()

    def stop(self):
        """Stop the clock, record the run and return its length in seconds."""
        self.times.append(self._clock() - self.tik)
        return self.times[-1]

    def avg(self):
        """Mean length of the recorded runs (0.0 before the first)."""
        return self.sum() / len(self.times) if self.times else 0.0

    def sum(self):
        """Total length of the recorded runs."""
        return float(sum(self.times))

    def cumsum(self):
        """Running totals of the recorded runs, as a list."""
        return list(itertools.accumulate(self.times))

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def __repr__(self):
        return f"Timer(runs={len(self.times)}, sum={self.sum():.6g}s)"


class Accumulator:
    """``n`` running sums, added to together (loss sum, correct, examples...).

    Defined for the lesson on softmax regression, where it sums the loss,
    the correct predictions and the number of examples over an epoch.

    Parameters
    ----------
    n : int
        Number of sums, >= 1.

    Examples
    --------
    >>> metric = Accumulator(2)
    >>> metric.add(3.0, 4)
    >>> metric[0] / metric[1]
    0.75
    """

    def __init__(self, n):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ArgumentError(f"Accumulator: n must be an integer >= 1, got {n!r}")
        self.data = [0.0] * int(n)

    def add(self, *args):
        """Add one number to each sum: Python or numpy numbers, or one-element NDArrays."""
        if len(args) != len(self.data):
            raise ArgumentError(f"Accumulator.add: got {len(args)} values for "
                                f"{len(self.data)} sums; pass one value per sum")
        self.data = [a + _number(b) for a, b in zip(self.data, args)]

    def reset(self):
        """Set every sum back to 0."""
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        return f"Accumulator({self.data})"


def _number(value):
    # An MXNet NDArray has no __float__; asscalar() reads a one-element array.
    return float(value.asscalar() if hasattr(value, "asscalar") else value)
