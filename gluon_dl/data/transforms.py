"""Vectorized transforms driven by a model's :class:`ModelConfig`."""
import numpy as np


def to_model_input(images, config):
    """Turn raw images into what the network sees.

    Parameters
    ----------
    images : numpy.ndarray
        uint8 images (N, H, W) or (N, H, W, C), or floats already in
        ``config.input_range``.
    config : ModelConfig
        Supplies layout, input range and mean/std.

    Returns
    -------
    numpy.ndarray, float32, shape (N,) + config.input_shape
    """
    x = scale_to_range(images, config)
    if x.ndim == 3:
        x = x[..., None]  # (N, H, W) -> (N, H, W, 1)
    if config.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    return normalize(x, config)


def scale_to_range(images, config):
    """Map uint8 pixels 0..255 onto ``config.input_range``; floats pass through as float32.

    The same scaling the edge runtime applies to image files
    (:meth:`ModelConfig.scale_to_range`).
    """
    return config.scale_to_range(images)


def normalize(x, config):
    """``(x - mean) / std`` per channel, channels located by ``config.layout``.

    Calls :meth:`ModelConfig.normalize`, the one normalization that the
    exporters and the edge runtime use too; ``x`` is a batch or one sample.
    """
    return config.normalize(x)


def random_shift(images, max_shift, rng):
    """Translate each image by up to ``max_shift`` pixels (zero fill).

    A cheap augmentation that lifts small-data digit accuracy noticeably.
    """
    n, h, w = images.shape[:3]
    pad = [(0, 0), (max_shift, max_shift), (max_shift, max_shift)] + [(0, 0)] * (images.ndim - 3)
    padded = np.pad(images, pad)
    dy = rng.randint(0, 2 * max_shift + 1, size=n)
    dx = rng.randint(0, 2 * max_shift + 1, size=n)
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = dx[:, None] + np.arange(w)[None, :]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
