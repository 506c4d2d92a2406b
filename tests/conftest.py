"""Shared fixtures: the embedded MNIST split and a briefly trained LeNet-5."""
import functools

import numpy as np
import pytest


@pytest.fixture(scope="session")
def mnist_split():
    from gluon_dl.data import load_mnist, train_test_split

    X, y = load_mnist()
    return train_test_split(X, y, 1000, seed=0)


@pytest.fixture(scope="session")
def trained_lenet(mnist_split):
    """LeNet-5 after three epochs on 4,000 digits (about 96% held-out)."""
    import mxnet as mx

    from gluon_dl.data import ArrayLoader, to_model_input
    from gluon_dl.models import get_model
    from gluon_dl.training import fit

    mx.random.seed(0)
    np.random.seed(0)
    X_tr, X_te, y_tr, y_te = mnist_split
    net = get_model("lenet5")
    transform = functools.partial(to_model_input, config=net.config)
    fit(net, ArrayLoader(X_tr, y_tr, 64, shuffle=True, transform=transform), 3, lr=2e-3,
        progress=False)
    return net, transform(X_te), y_te, transform(X_tr[:256])
