"""Data sets that work offline, splits, loaders and transforms."""
from .loader import ArrayLoader
from .mnist import load_mnist, mnist_5k_path
from .split import train_test_split
from .transforms import normalize, random_shift, scale_to_range, to_model_input

__all__ = ["ArrayLoader", "load_mnist", "mnist_5k_path", "normalize", "random_shift",
           "scale_to_range", "to_model_input", "train_test_split"]
