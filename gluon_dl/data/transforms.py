"""Vectorized image transforms, and the one that brings images to a model's :class:`ModelConfig`.

Raw images are batches in the layout the data sets deliver: ``(N, H, W)``
for gray images or ``(N, H, W, C)`` with the channels last, uint8 pixels
0..255 or floats.  Every function works on a whole batch at once, and the
random ones draw only from the ``numpy.random.RandomState`` they are given,
so a loader that seeds it from ``(seed, epoch, batch)`` (as
:class:`~gluon_dl.data.ArrayLoader` does) repeats them exactly on resume.

:func:`to_model_input` is the last step before the network: it scales,
optionally resizes, lays the axes out as ``config.layout`` says and
normalizes.  It converts nothing silently: images with another channel
count than the model's are refused (convert them with :func:`to_channels`),
and so are images of another size unless ``resize=True`` is passed.
"""
import math
import numbers

import numpy as np

from ..errors import ArgumentError, InputShapeError

#: ITU-R BT.601 luma weights (what PIL's ``convert("L")`` uses) for RGB -> gray.
LUMA = (0.299, 0.587, 0.114)
_IMAGE_AXES = frozenset("NCHW")


def to_model_input(images, config, resize=False):
    """Turn raw images into what the network sees.

    Parameters
    ----------
    images : numpy.ndarray
        uint8 images (N, H, W) or (N, H, W, C), or floats already in
        ``config.input_range``; channels last whatever ``config.layout`` is.
    config : ModelConfig
        Supplies layout, input shape, input range and mean/std.
    resize : bool
        Resize images of another height and width than ``config.input_shape``
        bilinearly (see :func:`resize`); without it they are refused.

    Returns
    -------
    numpy.ndarray, float32, shape (N,) + config.input_shape

    Raises
    ------
    InputShapeError
        Images of another rank or dtype, another channel count than the
        model's (convert them with :func:`to_channels`), or another size
        without ``resize``.
    ArgumentError
        ``config`` describes no image input (its layout lacks N, C, H or W).
    """
    order = _layout_order(config)
    images = _image_batch(images, "to_model_input")
    _check_channels(images, config)
    x = scale_to_range(images, config)
    x = _to_model_size(x, config, resize)
    if x.ndim == 3:
        x = x[..., None]  # (N, H, W) -> (N, H, W, 1)
    return normalize(x.transpose(order), config)


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


def to_channels(images, channels):
    """Convert images to ``channels`` channels, explicitly.

    Gray images become ``channels`` channels by repetition (gray into R, G
    and B); RGB images become gray by their luminance
    (``0.299 R + 0.587 G + 0.114 B``, rounded for uint8).

    Parameters
    ----------
    images : numpy.ndarray
        (N, H, W) gray or (N, H, W, C) images, uint8 or float.
    channels : int
        The channel count wanted, >= 1.

    Returns
    -------
    numpy.ndarray
        (N, H, W, channels), the dtype of ``images``.

    Raises
    ------
    InputShapeError
        A conversion other than gray -> any count or RGB -> gray.
    """
    images = _image_batch(images, "to_channels")
    if isinstance(channels, bool) or not isinstance(channels, numbers.Integral) or channels < 1:
        raise ArgumentError(f"to_channels: channels must be a whole number >= 1, "
                            f"got {channels!r}")
    x = images if images.ndim == 4 else images[..., None]
    have = x.shape[-1]
    if have == channels:
        return x
    if have == 1:
        return np.repeat(x, channels, axis=-1)
    if have == 3 and channels == 1:
        gray = x.astype(np.float32) @ np.asarray(LUMA, np.float32)
        return _like(gray[..., None], images.dtype)
    raise InputShapeError(f"to_channels converts gray images to any channel count and RGB "
                          f"images to gray; got {have} channels (shape {images.shape}) to "
                          f"convert to {channels}: convert them yourself")


def resize(images, size):
    """Resize every image bilinearly to ``size``.

    Pixel centres are aligned (``align_corners=False``, as in OpenCV's
    ``INTER_LINEAR``, PIL's upsampling and ``tf.image.resize``); there is no
    anti-aliasing, so shrinking by more than 2x skips pixels.

    Parameters
    ----------
    images : numpy.ndarray
        (N, H, W) or (N, H, W, C), uint8 or float.
    size : int or (int, int)
        Output height and width (one number for a square).

    Returns
    -------
    numpy.ndarray
        (N, height, width[, C]) of the dtype of ``images`` (uint8 rounded).
    """
    images = _image_batch(images, "resize")
    height, width = _size("resize", size)
    if images.shape[1:3] == (height, width):
        return images.copy()
    work = np.float64 if images.dtype == np.float64 else np.float32
    x = _interpolate(images.astype(work, copy=False), height, axis=1)
    x = _interpolate(x, width, axis=2)
    return _like(x, images.dtype)


def random_crop(images, size, padding, rng):
    """Crop each image at a random place, after zero padding (CIFAR-style augmentation).

    Parameters
    ----------
    images : numpy.ndarray
        (N, H, W) or (N, H, W, C).
    size : int or (int, int)
        Height and width of the crops; at most the padded size.
    padding : int
        Zero pixels added on every side first, >= 0.
    rng : numpy.random.RandomState
        Draws the row offsets, then the column offsets.

    Returns
    -------
    numpy.ndarray
        (N, height, width[, C]), the dtype of ``images``.
    """
    images = _image_batch(images, "random_crop", dtypes=None)
    height, width = _size("random_crop", size)
    padding = _count("random_crop", "padding", padding)
    n, h, w = images.shape[:3]
    if height > h + 2 * padding or width > w + 2 * padding:
        raise ArgumentError(f"random_crop: a {height}x{width} crop does not fit in "
                            f"{h}x{w} images padded by {padding}; crop smaller or pad more")
    pad = [(0, 0), (padding, padding), (padding, padding)] + [(0, 0)] * (images.ndim - 3)
    padded = np.pad(images, pad)
    dy = rng.randint(0, h + 2 * padding - height + 1, size=n)
    dx = rng.randint(0, w + 2 * padding - width + 1, size=n)
    rows = dy[:, None] + np.arange(height)[None, :]
    cols = dx[:, None] + np.arange(width)[None, :]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def random_shift(images, max_shift, rng):
    """Translate each image by up to ``max_shift`` pixels (zero fill).

    A cheap augmentation that lifts small-data digit accuracy noticeably:
    a :func:`random_crop` of the images' own size after padding by ``max_shift``.
    """
    return random_crop(images, images.shape[1:3], max_shift, rng)


def random_flip(images, rng):
    """Mirror each image left-right with probability 1/2.

    Parameters
    ----------
    images : numpy.ndarray
        (N, H, W) or (N, H, W, C).
    rng : numpy.random.RandomState
        Draws one number per image.

    Returns
    -------
    numpy.ndarray
        The shape and dtype of ``images``.
    """
    images = _image_batch(images, "random_flip", dtypes=None)
    flip = rng.uniform(size=len(images)) < 0.5
    return np.where(flip.reshape((-1,) + (1,) * (images.ndim - 1)), images[:, :, ::-1], images)


def color_jitter(images, brightness, contrast, saturation, rng, value_range=None):
    """Change brightness, contrast and saturation by random factors per image.

    Each factor is drawn uniformly from ``[max(0, 1 - s), 1 + s]`` for its
    strength ``s`` (torchvision's ``ColorJitter`` convention), one per image,
    and applied in that order: brightness scales the pixels, contrast blends
    each image with its mean gray level, saturation blends each pixel with its
    gray value (RGB images only: gray images have no saturation to change).

    Parameters
    ----------
    images : numpy.ndarray
        (N, H, W) or (N, H, W, C) with C 1 or 3, uint8 or float.
    brightness, contrast, saturation : float
        Strengths, >= 0; 0 leaves that property alone.
    rng : numpy.random.RandomState
        Draws the brightness, contrast and saturation factors, in that order
        (always all three, so a strength of 0 does not change the others).
    value_range : (float, float), optional
        Range to clip the results to; default 0..255 for uint8, 0..1 for floats.

    Returns
    -------
    numpy.ndarray
        The shape and dtype of ``images`` (uint8 rounded).
    """
    images = _image_batch(images, "color_jitter")
    strengths = [_strength(name, value) for name, value in
                 (("brightness", brightness), ("contrast", contrast),
                  ("saturation", saturation))]
    low, high = _value_range(images.dtype, value_range)
    channels = images.shape[3] if images.ndim == 4 else 1
    if channels not in (1, 3):
        raise InputShapeError(f"color_jitter takes gray or RGB images, got {channels} channels "
                              f"(shape {images.shape})")
    n = len(images)
    fb, fc, fs = (rng.uniform(max(0.0, 1 - s), 1 + s, size=n).astype(np.float32)
                  for s in strengths)
    per_image = (-1,) + (1,) * (images.ndim - 1)
    x = images.astype(np.float32)
    x = low + (x - low) * fb.reshape(per_image)
    mean = _gray(x).reshape(n, -1).mean(axis=1).reshape(per_image)
    x = mean + (x - mean) * fc.reshape(per_image)
    if channels == 3:
        gray = _gray(x)[..., None]
        x = gray + (x - gray) * fs.reshape(per_image)
    return _like(np.clip(x, low, high), images.dtype)


# ---------------------------------------------------------------- helpers

def _image_batch(images, owner, dtypes="pixels"):
    """``images`` as an array of rank 3 or 4; with ``dtypes="pixels"`` uint8 or float only."""
    images = np.asarray(images)
    if images.ndim not in (3, 4) or 0 in images.shape[1:]:
        raise InputShapeError(f"{owner} takes a batch of images (N, H, W) or (N, H, W, C) with "
                              f"the channels last; got shape {images.shape}")
    if dtypes == "pixels" and not (images.dtype == np.uint8 or images.dtype.kind == "f"):
        raise InputShapeError(f"{owner} takes uint8 pixels (0..255) or floats, got "
                              f"{images.dtype} images; convert them with "
                              f"images.astype(np.uint8) or images.astype(np.float32)")
    return images


def _layout_order(config):
    """Axes of an (N, H, W, C) batch in ``config.layout`` order."""
    layout = getattr(config, "layout", None)
    if not isinstance(layout, str) or len(layout) != 4 or set(layout) != _IMAGE_AXES:
        raise ArgumentError(f"to_model_input prepares images, but model "
                            f"'{getattr(config, 'name', config)}' takes layout {layout}; "
                            f"pass its inputs directly")
    return tuple("NHWC".index(axis) for axis in layout)


def _model_size(config):
    """``(channels, height, width)`` of ``config.input_shape``."""
    sample = dict(zip(config.layout[1:], config.input_shape))
    return sample["C"], sample["H"], sample["W"]


def _check_channels(images, config):
    have = images.shape[3] if images.ndim == 4 else 1
    want = _model_size(config)[0]
    if have == want:
        return
    how = "gray repeated into each channel" if have == 1 else \
        "RGB to gray by luminance" if have == 3 and want == 1 else None
    fix = (f"convert them explicitly with gluon_dl.data.transforms.to_channels(images, "
           f"{want}) ({how})" if how else "convert them to that channel count first")
    raise InputShapeError(f"images have {have} channel{'s' * (have != 1)} (shape "
                          f"{images.shape}, channels last) but model '{config.name}' takes "
                          f"{want} (input_shape {tuple(config.input_shape)} in "
                          f"{config.layout}); {fix}")


def _to_model_size(x, config, allow_resize):
    _, height, width = _model_size(config)
    if x.shape[1:3] == (height, width):
        return x
    if not allow_resize:
        raise InputShapeError(f"images are {x.shape[1]}x{x.shape[2]} but model "
                              f"'{config.name}' takes {height}x{width}; pass resize=True to "
                              f"resize them bilinearly, or resize them first with "
                              f"gluon_dl.data.transforms.resize(images, ({height}, {width}))")
    return resize(x, (height, width))


def _interpolate(x, size, axis):
    """Linear interpolation of ``x`` along ``axis`` to ``size`` samples, centres aligned."""
    n = x.shape[axis]
    src = np.clip((np.arange(size) + 0.5) * (n / size) - 0.5, 0, n - 1)
    lo = np.floor(src).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    shape = [1] * x.ndim
    shape[axis] = size
    w = (src - lo).astype(x.dtype).reshape(shape)
    return np.take(x, lo, axis=axis) * (1 - w) + np.take(x, hi, axis=axis) * w


def _gray(x):
    """Gray level of float images, (N, H, W) from (N, H, W, 3) or (N, H, W[, 1])."""
    if x.ndim == 4 and x.shape[3] == 3:
        return x @ np.asarray(LUMA, x.dtype)
    return x[..., 0] if x.ndim == 4 else x


def _like(x, dtype):
    """Float results back in ``dtype``: uint8 rounded and clipped, floats cast."""
    if dtype == np.uint8:
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return x.astype(dtype, copy=False)


def _size(owner, size):
    """``(height, width)`` of an int or a pair of positive ints."""
    pair = (size, size) if isinstance(size, numbers.Integral) else size
    try:
        height, width = pair
    except (TypeError, ValueError):
        height = width = None
    for value in (height, width):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ArgumentError(f"{owner}: size must be a positive int or a (height, width) "
                                f"pair of them, got {size!r}")
    return int(height), int(width)


def _count(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ArgumentError(f"{owner}: {name} must be a whole number >= 0, got {value!r}")
    return int(value)


def _strength(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < 0:
        raise ArgumentError(f"color_jitter: {name} must be a finite number >= 0 (0 leaves it "
                            f"alone), got {value!r}")
    return float(value)


def _value_range(dtype, value_range):
    if value_range is None:
        return (0.0, 255.0) if dtype == np.uint8 else (0.0, 1.0)
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        low = high = math.nan
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ArgumentError(f"color_jitter: value_range must be a (low, high) pair with "
                            f"low < high, got {value_range!r}")
    return low, high
