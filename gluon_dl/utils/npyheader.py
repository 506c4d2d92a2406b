"""What an ``.npy`` header declares, read before any data is: shape, dtype, size.

``np.load`` trusts the header: a forged shape allocates whatever it
declares, and an object dtype needs pickle.  Readers of files a user hands
us (MNIST archives, ``predict`` inputs) check the declaration first.
"""
import math

import numpy as np


def read_npy_header(f):
    """``(shape, dtype, header_bytes)`` of the ``.npy`` stream ``f``, positioned at its start.

    Raises
    ------
    ValueError
        For a stream that is not ``.npy`` or uses an unknown format version;
        callers turn it into their own error naming the file.
    """
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = fmt.read_array_header_2_0(f)
        else:
            raise ValueError(f"unknown .npy format version {version}")
    except (OSError, EOFError, SyntaxError) as exc:
        raise ValueError(str(exc)) from None
    return shape, dtype, f.tell()


def declared_nbytes(shape, dtype):
    """The bytes of data a header with ``shape`` and ``dtype`` promises (exact, no overflow)."""
    return math.prod(int(d) for d in shape) * dtype.itemsize
