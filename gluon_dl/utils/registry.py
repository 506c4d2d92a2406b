"""What every registry of gluon-dl shares: module discovery and the unknown-name error.

Models, data sets, backends and schedules register where they are defined;
a package of families imports all its public modules so their decorators
run, and a name no registry holds is refused with the close matches.
"""
import difflib
import importlib
import pkgutil

from ..errors import ArgumentTypeError, UnknownNameError


def import_public_modules(package, path):
    """Import every module of ``package`` whose name has no leading underscore.

    Parameters
    ----------
    package : str
        The package's dotted name (``__package__`` of its ``_families`` module).
    path : list of str
        The package's ``__path__``.

    Returns
    -------
    tuple of str
        The imported module names, sorted.
    """
    names = tuple(sorted(m.name for m in pkgutil.iter_modules(path)
                         if not m.name.startswith("_") and not m.ispkg))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names


def check_name(kind, name):
    """Refuse a name that is not a string (a list, None...) with the project's error."""
    if not isinstance(name, str):
        raise ArgumentTypeError(f"the {kind} must be a str, got {type(name).__name__} "
                                f"{name!r}")
    return name


def unknown_name(kind, name, names, listing, cutoff=0.5):
    """The error for ``name``, which the registry of ``kind`` lacks, with close matches.

    ``listing`` says where the user finds them all, e.g. "`gluon-dl models` lists all 64";
    ``cutoff`` is difflib's similarity threshold (lower for short names).
    """
    close = difflib.get_close_matches(str(name), list(names), n=5, cutoff=cutoff)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return UnknownNameError(f"unknown {kind} '{name}'{hint} ({listing})")
