"""Reading inputs for a deployed model from files (``gluon-dl predict``).

Images are resized to the model's input size and scaled to its input range;
``.npy`` files hold raw inputs in the model's layout, one sample or a batch.
Pillow is imported only for image files.
"""
from pathlib import Path

import numpy as np

from gluon_dl.errors import InputShapeError, ModelFileError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def load_input(path, input_meta):
    """Load one input file as raw floats shaped ``(N,) + sample shape``.

    Parameters
    ----------
    path : str or Path
        ``.npy`` or an image file.
    input_meta : dict
        The ``input`` entry of an artifact's metadata: ``shape`` (with batch
        axis), ``layout`` and ``input_range``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"input file {path} does not exist")
    shape = tuple(input_meta["shape"][1:])
    if path.suffix.lower() == ".npy":
        x = _load_npy(path)
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
        if x.shape == shape:
            x = x[None]
        if x.shape[1:] != shape:
            raise InputShapeError(f"{path}: array of shape {x.shape} does not fit the model's "
                                  f"input {shape} ({input_meta['layout']} without batch axis)")
        return x
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _load_image(path, shape, input_meta)[None]
    raise ModelFileError(f"{path}: unsupported input type '{path.suffix}'; pass a .npy array "
                         f"or an image ({', '.join(sorted(IMAGE_SUFFIXES))})")


def _load_npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ModelFileError(f"{path} is not a readable .npy array ({exc})") from exc


def _load_image(path, shape, input_meta):
    from PIL import Image  # a core dependency of gluon-dl
    layout = input_meta["layout"]
    channels = shape[layout.index("C") - 1]
    height, width = shape[layout.index("H") - 1], shape[layout.index("W") - 1]
    try:
        img = Image.open(path)
        img = img.convert("L" if channels == 1 else "RGB").resize((width, height))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{path} is not a readable image ({exc})") from exc
    lo, hi = input_meta.get("input_range", (0.0, 1.0))
    x = np.asarray(img, dtype=np.float32) * ((hi - lo) / 255.0) + lo
    if x.ndim == 2:
        x = x[:, :, None]
    return x.transpose(2, 0, 1) if layout == "NCHW" else x
