"""The export-format registry: filled by ``@register_format`` where each format is defined.

A format is one conversion step: from a traced Gluon block (or an earlier
artifact) to staged files, one per precision.  Everything around it (tracing,
metadata, verification in the runtime, atomic publishing) is the shared
pipeline of :mod:`deploy.export._pipeline`, so a new format is one module of
this package: :func:`list_formats` imports every public module here, and a
format registered anywhere else (a plug-in, a test) is picked up the same way.
"""
import dataclasses
import re
from pathlib import Path
from typing import Callable, Optional, Tuple

from gluon_dl.errors import ArgumentError
from gluon_dl.utils.registry import check_name, unknown_name

_FORMATS = {}
_NAME = re.compile(r"[a-z][a-z0-9_-]*")


@dataclasses.dataclass(frozen=True)
class Converted:
    """One staged artifact a converter wrote, before the pipeline finishes it.

    Attributes
    ----------
    path : Path
        The staged artifact file.
    fields : dict
        Keyword arguments of :func:`deploy.metadata.build_metadata` besides the
        config, format and precision (layout, input/output names, ...).
    companions : tuple of Path
        Other staged files the artifact needs (MXNet's ``.params``); they are
        published beside the target under the same names.
    embed : callable, optional
        ``embed(path, meta)`` writes the metadata into the file itself (ONNX's
        ``metadata_props``) before the sidecar records its hash.
    """

    path: Path
    fields: dict
    companions: Tuple[Path, ...] = ()
    embed: Optional[Callable] = None


@dataclasses.dataclass(frozen=True)
class ExportFormat:
    """A registered export format.

    Attributes
    ----------
    name : str
        What users pass (``--formats onnx,tflite``).
    convert : callable
        ``convert(job) -> {precision: Converted}`` for the precisions in
        ``job.targets``; ``job`` is a :class:`deploy.export._pipeline.Job`.
    precisions : tuple of str
        What it can write, the first being its default.
    filename : callable
        ``filename(stem, precision) -> str``: the artifact's name in a folder.
    artifact_format : str
        The metadata's ``artifact.format`` of its files, which selects the
        runtime backend (a variant of ONNX writes ``"onnx"``).
    calibrated : tuple of str
        Precisions that need representative inputs (``calib_data``).
    accepts_files : tuple of str
        Suffixes of earlier artifacts it converts from (TFLite: ``.onnx``).
    """

    name: str
    convert: Callable
    precisions: Tuple[str, ...]
    filename: Callable
    artifact_format: str
    calibrated: Tuple[str, ...] = ()
    accepts_files: Tuple[str, ...] = ()

    def targets(self, out_dir, stem, precisions=None):
        """``{precision: out_dir / filename(stem, precision)}``; refuses unknown precisions."""
        precisions = tuple(self.precisions[:1] if precisions is None else precisions)
        self.check_precisions(precisions)
        return {p: Path(out_dir) / self.filename(stem, p) for p in precisions}

    def check_precisions(self, precisions):
        unknown = [p for p in precisions if p not in self.precisions]
        if unknown or not precisions:
            raise ArgumentError(f"the {self.name} format writes the precisions "
                                f"{list(self.precisions)}; got {list(precisions)}")


def register_format(name, *, precisions=("float32",), suffix=None, filename=None,
                    artifact_format=None, calibrated=(), accepts_files=()):
    """Register the decorated ``convert(job)`` function as export format ``name``.

    Parameters
    ----------
    name : str
        Lower-case letters, digits, ``-`` and ``_``.
    precisions : sequence of str
        Precisions it writes, the default first.
    suffix : str, optional
        File suffix; files are named ``<stem>_<precision><suffix>`` (or
        ``<stem><suffix>`` when the format writes one precision).
    filename : callable, optional
        ``filename(stem, precision) -> str`` instead of ``suffix``.
    artifact_format : str, optional
        ``artifact.format`` of the metadata (default: ``name``).
    calibrated : sequence of str
        Precisions that need calibration data.
    accepts_files : sequence of str
        Suffixes of artifacts it can convert from instead of a block.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ArgumentError(f"format names are lower-case letters, digits, '-' and '_'; got "
                            f"{name!r}")
    if (suffix is None) == (filename is None):
        raise ArgumentError(f"format '{name}': give exactly one of suffix and filename")
    precisions = tuple(precisions)
    if filename is None:
        def filename(stem, precision, _suffix=suffix, _single=len(precisions) == 1):
            return f"{stem}{_suffix}" if _single else f"{stem}_{precision}{_suffix}"

    def decorator(convert):
        if name in _FORMATS:
            raise ArgumentError(f"export format '{name}' is registered twice "
                                f"({_FORMATS[name].convert.__module__} and {convert.__module__})")
        _FORMATS[name] = ExportFormat(name, convert, precisions, filename,
                                      artifact_format or name, tuple(calibrated),
                                      tuple(accepts_files))
        return convert
    return decorator


def unregister_format(name):
    """Remove format ``name`` (for plug-ins that are unloaded, and tests)."""
    _load_formats()
    _FORMATS.pop(get_format(name).name)


def get_format(name):
    """The :class:`ExportFormat` registered as ``name``; UnknownNameError with close matches."""
    _load_formats()
    if check_name("export format", name) not in _FORMATS:
        raise unknown_name("export format", name, _FORMATS,
                           f"registered: {', '.join(_FORMATS)}", cutoff=0.4)
    return _FORMATS[name]


def list_formats():
    """Names of the registered export formats, in registration order."""
    _load_formats()
    return list(_FORMATS)


def _load_formats():
    # Importing the format modules runs their @register_format decorators.
    from . import _formats  # noqa: F401
