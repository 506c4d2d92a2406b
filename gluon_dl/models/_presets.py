"""Normalization and labels of the data sets the model zoo is configured for."""
import numbers

from ..config import ModelConfig
from ..errors import ArgumentError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)
FASHION_MNIST_LABELS = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                        "sneaker", "bag", "ankle boot")
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_LABELS = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                  "ship", "truck")


def fashion_mnist_config(name, image_size, min_size, paper, lesson, test_size=32):
    """The config of a course-sized network for Fashion-MNIST at ``image_size`` x ``image_size``.

    Dive into Deep Learning trains its modern CNNs on gray Fashion-MNIST
    images resized up (``load_data_fashion_mnist(batch_size, resize=96)``);
    these presets take the size as an argument, so a short run can train the
    same network on smaller images.

    Parameters
    ----------
    name : str
    image_size : int
        Height and width of the inputs, at least ``min_size``.
    min_size : int
        The smallest size the network's poolings accept.
    paper, lesson : str
    test_size : int
        Size of the tests' small inputs (raised to ``min_size`` when below it).

    Raises
    ------
    ArgumentError
        For an ``image_size`` that is not a whole number >= ``min_size``.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) \
            or image_size < min_size:
        raise ArgumentError(f"model '{name}': image_size must be a whole number >= {min_size} "
                            f"(its poolings need that much), got {image_size!r}")
    small = min(max(test_size, min_size), image_size)
    return ModelConfig(
        name=name, input_shape=(1, image_size, image_size), mean=FASHION_MNIST_MEAN,
        std=FASHION_MNIST_STD, num_classes=10, labels=FASHION_MNIST_LABELS,
        test_input_shape=(1, small, small), paper=paper,
        lesson=f"{lesson}, Fashion-MNIST at {image_size}x{image_size}")
