"""Image classification in a few calls: loaders sized for a model, predicted labels, mistakes shown.

Defined for the lessons that train an image classifier (softmax regression
on): every one of them turns raw images into a model's inputs, trains,
predicts the test set and looks at what it got wrong::

    train_iter, test_iter = image_loaders(data, net.config, batch_size=128)
    fit(net, train_iter, num_epochs)
    y_hat = predict_labels(net, X_test, net.config)
    show_misclassified(X_test, y_test, y_hat, labels, path="mistakes.png")

This is d2l's ``load_data_fashion_mnist(batch_size, resize)`` and
``predict_ch3`` for any image set and any model of the zoo.
"""
import functools

import numpy as np

from .errors import ArgumentError

__all__ = ["image_loaders", "predict_labels", "show_misclassified", "subset"]


def subset(data, n_train=None, n_test=None):
    """The first ``n_train`` training and ``n_test`` test samples of ``(X_train, y_train, X_test, y_test)``.

    ``None`` keeps a split whole.  The offline sets are stratified and
    shuffled once, and Fashion-MNIST's files come shuffled, so the first
    samples cover every class: short runs train on a slice this way.
    """
    X_train, y_train, X_test, y_test = data
    return X_train[:n_train], y_train[:n_train], X_test[:n_test], y_test[:n_test]


def image_loaders(data, config, batch_size, augment=None, seed=0, test_batch_size=256):
    """Training and test loaders that feed raw images to a model described by ``config``.

    Parameters
    ----------
    data : tuple
        ``(X_train, y_train, X_test, y_test)`` of raw images (uint8
        ``(N, H, W[, C])``), as :meth:`gluon_dl.lesson.Lesson.image_data` returns.
    config : ModelConfig
        Images are resized to its input size, laid out and normalized
        (:func:`gluon_dl.data.to_model_input` with ``resize=True``).
    batch_size : int
        Training batch size; the training loader reshuffles every epoch.
    augment : callable, optional
        ``augment(X_batch, rng)`` on the raw training images, before resizing.
    seed : int
        Seed of the shuffling and of ``augment``'s random numbers.
    test_batch_size : int

    Returns
    -------
    (ArrayLoader, ArrayLoader)
    """
    from .data import ArrayLoader, to_model_input

    if len(data) != 4:
        raise ArgumentError(f"image_loaders takes data=(X_train, y_train, X_test, y_test), "
                            f"got {len(data)} items")
    X_train, y_train, X_test, y_test = data
    transform = functools.partial(to_model_input, config=config, resize=True)
    train_iter = ArrayLoader(X_train, y_train, batch_size, shuffle=True, seed=seed,
                             transform=transform, augment=augment)
    test_iter = ArrayLoader(X_test, y_test, test_batch_size, transform=transform)
    return train_iter, test_iter


def predict_labels(net, X, config, batch_size=256):
    """The class ``net`` predicts for each raw image of ``X`` (int numpy array).

    Parameters
    ----------
    net : mxnet.gluon.Block
        A trained classifier.
    X : numpy.ndarray
        Raw images, resized and normalized for ``config`` here.
    config : ModelConfig
    batch_size : int
    """
    from .data import ArrayLoader, to_model_input
    from .training import predict

    transform = functools.partial(to_model_input, config=config, resize=True)
    loader = ArrayLoader(X, np.zeros(len(X), np.int32), batch_size, transform=transform)
    return predict(net, loader).argmax(axis=1).astype(np.int64)


def show_misclassified(X, y, y_hat, labels, n=8, num_cols=4, path=None):
    """The first ``n`` images whose prediction is wrong, titled ``true -> predicted``.

    Parameters
    ----------
    X : numpy.ndarray
        Raw images.
    y, y_hat : array of int
        True and predicted classes.
    labels : sequence of str
        Class names, index = class.
    n, num_cols : int
        How many mistakes to show, and per row.
    path : str or Path, optional
        PNG file to write.

    Returns
    -------
    Path, Figure or None
        As :func:`gluon_dl.plot.show_images`; a figure that says so when
        there is no mistake to show.
    """
    from .plot import show_images

    y, y_hat = np.asarray(y), np.asarray(y_hat)
    if len(y) != len(y_hat) or len(y) != len(X):
        raise ArgumentError(f"show_misclassified: {len(X)} images, {len(y)} labels and "
                            f"{len(y_hat)} predictions; give one of each per image")
    wrong = np.flatnonzero(y != y_hat)[:n]
    if not len(wrong):  # nothing wrong: show the first images with their (right) labels
        wrong = np.arange(min(n, len(X)))
    titles = [f"{labels[y[i]]} -> {labels[y_hat[i]]}" for i in wrong]
    rows = max(1, -(-len(wrong) // num_cols))
    return show_images(X[wrong], rows, num_cols, titles=titles, path=path)
