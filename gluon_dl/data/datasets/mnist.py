"""MNIST and Fashion-MNIST from their official IDX files.

Both sets are four files, ``train-images-idx3-ubyte.gz``,
``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
``t10k-labels-idx1-ubyte.gz`` (gzipped or not): 60,000 training and 10,000
test images of 28x28 and their labels 0-9.
"""
import numpy as np

from ...errors import DataError
from ._files import find
from ._idx import IMAGES, LABELS, read_idx
from ._registry import DatasetInfo, missing_error, register_dataset

_SPLIT_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_FILES = tuple(f"{name}.gz" for pair in _SPLIT_FILES.values() for name in pair)

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")

MNIST = DatasetInfo(
    name="mnist", kind="image", classes=tuple(str(d) for d in range(10)), files=_FILES,
    alternatives=("the same files un-gzipped",),
    source="the MNIST database of handwritten digits, from Yann LeCun's MNIST page",
    lesson="Linear neural networks, MLPs and LeNet: handwritten digits")

FASHION_MNIST = DatasetInfo(
    name="fashion-mnist", kind="image", classes=FASHION_CLASSES, files=_FILES,
    alternatives=("the same files un-gzipped",),
    source="from the Fashion-MNIST repository of Zalando Research",
    folders=("/usr/share/datasets/fashion-mnist",), system_package="dataset-fashion-mnist",
    lesson="Linear neural networks, MLPs and modern CNNs: image classification on "
           "Fashion-MNIST")


@register_dataset(MNIST)
def mnist(split, folders):
    """MNIST digits: ``X`` uint8 ``(N, 28, 28)``, ``y`` int32 ``(N,)`` in 0..9.

    Defined for the lessons on softmax regression, MLPs and LeNet.
    """
    return load_idx_pair(MNIST, split, folders)


@register_dataset(FASHION_MNIST)
def fashion_mnist(split, folders):
    """Fashion-MNIST clothes: ``X`` uint8 ``(N, 28, 28)``, ``y`` int32 ``(N,)`` in 0..9.

    Defined for the lessons on softmax regression, MLPs and the modern CNNs
    (AlexNet, VGG, NiN, GoogLeNet at larger sizes).  Read from
    ``<root>/fashion-mnist/``, then from ``/usr/share/datasets/fashion-mnist/``
    where the Debian/Ubuntu package ``dataset-fashion-mnist`` installs them.
    """
    return load_idx_pair(FASHION_MNIST, split, folders)


def load_idx_pair(info, split, folders):
    """``(X, y)`` of ``split`` from the first folder holding both of its IDX files."""
    images, labels = _SPLIT_FILES[split]
    for folder in folders:
        image_path = find([folder], f"{images}.gz", images)
        label_path = find([folder], f"{labels}.gz", labels)
        if image_path and label_path:
            return _read_pair(image_path, label_path)
    raise missing_error(info, folders, split)


def _read_pair(image_path, label_path):
    X = read_idx(image_path, IMAGES)
    y = read_idx(label_path, LABELS)
    if X.shape[1:] != (28, 28):
        raise DataError(f"{image_path} holds images of {X.shape[1]}x{X.shape[2]}, expected "
                        f"28x28; it is not an MNIST-format file")
    if len(X) != len(y):
        raise DataError(f"{image_path} holds {len(X)} images but {label_path} holds {len(y)} "
                        f"labels; the two files come from different sets, replace them")
    if not len(y):
        raise DataError(f"{label_path} holds no labels; replace it with the official file")
    if y.max() > 9:
        raise DataError(f"{label_path}: labels must be 0-9, found {y.max()}; replace the file")
    return X, y.astype(np.int32)
