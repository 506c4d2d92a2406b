"""The IDX format of MNIST and Fashion-MNIST, read with every size checked.

An IDX file is a big-endian header, magic number ``0x000008NN`` (unsigned
bytes, ``NN`` dimensions), then one uint32 per dimension, then the bytes.
The header's sizes are compared with the bytes really there before anything
is allocated: the file size for a plain file, a bounded read for a gzip
stream, whose uncompressed size is unknown until it is read.
"""
import gzip
import struct
import zlib

import numpy as np

from ...errors import DataError
from ._files import MiB, read_at_most

IMAGES, LABELS = 0x00000803, 0x00000801
_LIMIT = 256 * MiB  # the largest official file, 60,000 images of 28x28, is 45 MiB


def read_idx(path, magic):
    """The array stored in IDX file ``path`` (``.gz`` or plain), whose magic must be ``magic``."""
    what = "image" if magic == IMAGES else "label"
    gzipped = path.suffix == ".gz"
    try:
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
            dims, header = _read_header(f, path, magic, what)
            count = int(np.prod(dims, dtype=np.int64))
            if count > _LIMIT:
                raise DataError(f"{path}: the header declares {dims}, {count // MiB} MiB of "
                                f"{what}s, more than any official IDX file; replace the file")
            if not gzipped:
                _check_size(path, path.stat().st_size - header, count, dims)
            body = read_at_most(f, count + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read IDX file {path} ({type(exc).__name__}: {exc}); it is "
                        f"truncated or not gzip, download it again") from exc
    _check_size(path, len(body), count, dims)
    return np.frombuffer(body, dtype=np.uint8).reshape(dims).copy()


def _read_header(f, path, magic, what):
    head = f.read(4)
    if len(head) < 4 or struct.unpack(">I", head)[0] != magic:
        found = f"0x{struct.unpack('>I', head)[0]:08X}" if len(head) == 4 else "nothing"
        raise DataError(f"{path} is not an IDX {what} file: its magic number is {found}, "
                        f"expected 0x{magic:08X}; check which file is which")
    ndim = magic & 0xFF
    raw = f.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise DataError(f"{path}: the IDX header is cut short; download the file again")
    return struct.unpack(f">{ndim}I", raw), 4 + 4 * ndim


def _check_size(path, actual, count, dims):
    if actual < count:
        raise DataError(f"{path} is truncated: its header declares {dims} ({count} bytes) "
                        f"but {actual} bytes follow; download the file again")
    if actual > count:
        raise DataError(f"{path} has more bytes than the {count} its header declares "
                        f"{dims}; it is not an official IDX file, download it again")
