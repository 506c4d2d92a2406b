"""Pick the devices to compute on: a GPU when there is one, else the CPU.

Defined for the lesson on GPUs; the multi-GPU lessons train on
:func:`try_all_gpus`.  MXNet is imported when a function is called, not at
import, and nothing is probed before that.
"""
import numbers

from .errors import ArgumentError

__all__ = ["num_gpus", "try_all_gpus", "try_gpu"]


def num_gpus():
    """How many GPUs MXNet can use: 0 on a CPU-only build or without a CUDA driver.

    Defined for the lesson on GPUs.  MXNet's own ``mx.context.num_gpus()``
    raises when CUDA itself fails (a GPU build on a machine without a
    driver); that counts as no GPU here.
    """
    import mxnet as mx

    try:
        return int(mx.context.num_gpus())
    except mx.base.MXNetError:  # a GPU build without a usable driver: no GPU to offer
        return 0


def try_gpu(i=0):
    """``mx.gpu(i)`` if GPU ``i`` exists, else ``mx.cpu()``.

    Defined for the lesson on GPUs.  Never raises on a CPU-only build.

    Parameters
    ----------
    i : int
        GPU index, >= 0.

    Returns
    -------
    mxnet.Context
    """
    import mxnet as mx

    if isinstance(i, bool) or not isinstance(i, numbers.Integral) or i < 0:
        raise ArgumentError(f"try_gpu: i must be a GPU index >= 0, got {i!r}")
    return mx.gpu(int(i)) if num_gpus() > i else mx.cpu()


def try_all_gpus():
    """Every GPU as a list of contexts, or ``[mx.cpu()]`` when there is none.

    Defined for the lesson on GPUs; the lessons on multiple GPUs pass it as
    ``fit(..., ctx=try_all_gpus())``.

    Returns
    -------
    list of mxnet.Context
    """
    import mxnet as mx

    return [mx.gpu(i) for i in range(num_gpus())] or [mx.cpu()]
