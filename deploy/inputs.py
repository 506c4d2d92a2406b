"""Reading inputs for a deployed model from files (``gluon-dl predict``).

Images are resized to the model's input size and scaled to its input range;
``.npy`` files (and ``.npz`` files holding one array) hold raw inputs in the
model's layout, one sample or a batch.  Array headers are checked before
anything is allocated, so a forged header that asks for terabytes is an error,
not an out-of-memory crash; pickled objects are never loaded.  Pillow is
imported only for image files.
"""
import zipfile
from pathlib import Path

import numpy as np

from gluon_dl.errors import InputShapeError, ModelFileError
from gluon_dl.utils.deps import require
from gluon_dl.utils.io import why_not_a_file
from gluon_dl.utils.npyheader import declared_nbytes, read_npy_header

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
ARRAY_SUFFIXES = {".npy", ".npz"}
MAX_ARRAY_BYTES = 1 << 30  # 1 GiB: thousands of images; more is not one predict call
MAX_IMAGE_PIXELS = 1 << 26  # 64 megapixels, decoded before resizing


def load_input(path, config):
    """Load one input file as a batch ``(N,) + config.input_shape``.

    Parameters
    ----------
    path : str or Path
        ``.npy``, ``.npz`` (one array) or an image file.
    config : ModelConfig
        The model's configuration (``Predictor.config``): input shape,
        layout, dtype and range.

    Returns
    -------
    numpy.ndarray
        float32 inputs in ``config.input_range`` (uint8 arrays and images are
        scaled there from 0..255), or the integer ids of a token model.

    Raises
    ------
    ModelFileError
        For a missing, unreadable, truncated or forged file, or one of an
        unsupported type.
    InputShapeError
        For an array of the wrong shape or a non-numeric dtype.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"input file {path} {why_not_a_file(path)}; pass an image or a "
                             f".npy/.npz array")
    suffix = path.suffix.lower()
    if suffix in ARRAY_SUFFIXES:
        return _as_batch(path, read_array(path), config)
    if suffix in IMAGE_SUFFIXES:
        return _load_image(path, config)[None]
    raise ModelFileError(f"{path}: unsupported input type '{path.suffix}'; pass a .npy/.npz "
                         f"array or an image ({', '.join(sorted(IMAGE_SUFFIXES))})")


def read_array(path):
    """The numeric array in a ``.npy`` file, or the single array of a ``.npz`` file.

    The header is read first: object, string and complex dtypes are refused,
    and so is a declared size larger than the file or :data:`MAX_ARRAY_BYTES`.
    """
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return _read_npz(path)
    with open(path, "rb") as f:
        _check_header(f, path.stat().st_size, str(path))
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{path} is not a readable .npy array ({exc})") from None


def read_named_arrays(path, config):
    """One batch per input of ``config`` from an ``.npz`` holding an array per input name.

    For models with several inputs (``config.input_names``); each array is
    header-checked like :func:`read_array` and shaped ``(N,) + spec.shape``.

    Raises
    ------
    ModelFileError
        For a missing or unreadable file, or arrays named otherwise.
    InputShapeError
        For a wrong shape or dtype, or arrays of different lengths.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"input file {path} {why_not_a_file(path)}; pass an .npz with "
                             f"the arrays {config.input_names}")
    if path.suffix.lower() != ".npz":
        raise ModelFileError(f"{path}: '{config.name}' takes the inputs {config.input_names}; "
                             f"pass an .npz holding one array per input name")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFileError(f"{path} is not a readable .npz archive ({exc})") from None
    with archive:
        members = {i.filename[:-4]: i for i in archive.infolist() if i.filename.endswith(".npy")}
        if sorted(members) != sorted(config.input_names):
            raise ModelFileError(f"{path} holds the arrays {sorted(members)}; '{config.name}' "
                                 f"takes {config.input_names}: save one array per input name")
        try:
            for name, info in members.items():
                with archive.open(info) as f:
                    _check_header(f, info.file_size, f"{path}:{info.filename}")
        except (zipfile.BadZipFile, OSError) as exc:
            raise ModelFileError(f"{path} is not a readable .npz archive ({exc})") from None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = [npz[name] for name in config.input_names]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise ModelFileError(f"{path} is not a readable .npz archive ({exc})") from None
    batches = [_as_batch(path, arrays[0], config)]
    for spec, x in zip(config.extra_inputs, arrays[1:]):
        if x.shape[1:] != tuple(spec.shape) or x.ndim != len(spec.shape) + 1:
            raise InputShapeError(f"{path}: array '{spec.name}' of shape {x.shape} is no batch "
                                  f"of the input's shape {tuple(spec.shape)}")
        if not spec.dtype.startswith("float") and x.dtype.kind not in "iu":
            raise InputShapeError(f"{path}: array '{spec.name}' holds {x.dtype} values; the "
                                  f"input takes integers ({spec.dtype})")
        batches.append(x.astype(np.float32 if spec.dtype.startswith("float") else spec.dtype))
    if len({len(b) for b in batches}) > 1:
        raise InputShapeError(f"{path}: the arrays hold {[len(b) for b in batches]} samples; "
                              f"give every input the same number")
    return batches


def _read_npz(path):
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFileError(f"{path} is not a readable .npz archive ({exc})") from None
    with archive:
        members = [i for i in archive.infolist() if i.filename.endswith(".npy")]
        if len(members) != 1:
            names = [i.filename[:-4] for i in members]
            raise ModelFileError(f"{path} holds {len(members)} arrays {names}; pass an .npz "
                                 f"with one array, or a .npy")
        info = members[0]
        try:
            with archive.open(info) as f:
                _check_header(f, info.file_size, f"{path}:{info.filename}")
        except (zipfile.BadZipFile, OSError) as exc:
            raise ModelFileError(f"{path} is not a readable .npz archive ({exc})") from None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return npz[info.filename[:-4]]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise ModelFileError(f"{path} is not a readable .npz archive ({exc})") from None


def _check_header(f, size, source):
    """Check the ``.npy`` header at ``f`` against the ``size`` of the stored data."""
    try:
        shape, dtype, _ = read_npy_header(f)
    except ValueError as exc:
        raise ModelFileError(f"{source} is not a readable .npy array ({exc})") from None
    if dtype.hasobject or dtype.kind not in "biuf":
        raise InputShapeError(f"{source} holds an array of dtype {dtype}{_kind_hint(dtype)}; "
                              f"models take numeric arrays (float, int or uint8)")
    declared = declared_nbytes(shape, dtype)
    available = size - f.tell()
    if declared > available:
        raise ModelFileError(f"{source} declares a {dtype} array of shape {shape} "
                             f"({declared} bytes) but holds {max(available, 0)} bytes of data: "
                             f"the file is truncated or its header is forged")
    if declared > MAX_ARRAY_BYTES:
        raise ModelFileError(f"{source} holds {declared} bytes of inputs, more than the "
                             f"{MAX_ARRAY_BYTES >> 20} MiB one predict call reads; split it")


def _kind_hint(dtype):
    if dtype.hasobject:
        return " (Python objects, which gluon-dl never unpickles)"
    return {"U": " (text)", "S": " (bytes)", "c": " (complex)", "V": " (records)"}.get(
        dtype.kind, "")


def _as_batch(path, x, config):
    """The array ``x`` of file ``path`` as a batch of the model's dtype."""
    shape = tuple(config.input_shape)
    if x.shape == shape:
        x = x[None]
    if x.shape[1:] != shape or len(x) == 0:
        raise InputShapeError(f"{path}: array of shape {x.shape} does not fit the model's "
                              f"input {shape} ({config.layout} without batch axis), nor a "
                              f"batch of them")
    if config.takes_floats:
        return config.scale_to_range(x) if x.dtype == np.uint8 else x.astype(np.float32)
    if x.dtype.kind not in "iu":
        raise InputShapeError(f"{path} holds {x.dtype} values; the model takes integer ids "
                              f"({config.input_dtype}): save them as integers")
    return x


def _load_image(path, config):
    shape, layout = tuple(config.input_shape), config.layout
    if not config.takes_floats or len(layout) != 4 or set(layout[1:]) != set("CHW"):
        raise InputShapeError(f"{path}: the model takes {config.input_dtype} inputs in layout "
                              f"{layout}, not images; pass a .npy array of shape {shape}")
    channels = shape[layout.index("C") - 1]
    if channels not in (1, 3):
        raise InputShapeError(f"{path}: the model takes {channels}-channel inputs; images "
                              f"give 1 (grey) or 3 (RGB): pass a .npy array of shape {shape}")
    height, width = shape[layout.index("H") - 1], shape[layout.index("W") - 1]
    image = require("PIL.Image", "edge", "Reading image inputs")
    try:
        with image.open(path) as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise ModelFileError(f"{path} is {img.width}x{img.height} pixels, more than "
                                     f"gluon-dl decodes; shrink it to {width}x{height}")
            frames = getattr(img, "n_frames", 1)
            if frames > 1:  # only the first would be classified
                raise ModelFileError(f"{path} holds {frames} frames (an animation or a "
                                     f"multi-page file); pass one image per file")
            img = _eight_bit(image, img, path, shape)
            img = img.convert("L" if channels == 1 else "RGB").resize((width, height))
            pixels = np.asarray(img, dtype=np.uint8)
    except InputShapeError:
        raise
    except (OSError, ValueError, image.DecompressionBombError) as exc:
        raise ModelFileError(f"{path} is not a readable image ({exc})") from None
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    x = config.scale_to_range(pixels)  # H, W, C
    return x.transpose(["HWC".index(axis) for axis in layout[1:]])


def _eight_bit(image, img, path, shape):
    """``img`` with 8-bit values: Pillow's ``convert`` clips wider pixels at 255.

    16-bit images (``I;16*``) are scaled down; 32-bit integer and float
    images have no range that says what white is, so they are refused.
    """
    if img.mode.startswith("I;16"):
        wide = np.asarray(img).astype(np.float64)
        return image.fromarray(np.round(wide / 257).astype(np.uint8))  # 2-D uint8: "L"
    if img.mode in ("I", "F"):
        kind = "32-bit integer" if img.mode == "I" else "floating-point"
        raise InputShapeError(f"{path} holds {kind} pixels, whose range does not say what "
                              f"white is; save it as an 8- or 16-bit image, or pass a .npy "
                              f"array of shape {shape} in the model's input range")
    return img
