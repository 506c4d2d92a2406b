"""Lazy imports of optional dependencies with an actionable error."""
import importlib

from ..errors import MissingDependencyError

INSTALL_HINT = "pip install -c constraints.txt -e '.[{extra}]'"


def require(module, extra, purpose, install=None):
    """Import ``module`` or raise :class:`MissingDependencyError`.

    Parameters
    ----------
    module : str
        Module to import, e.g. ``"onnx2tf"``.
    extra : str
        The package extra that installs it, e.g. ``"convert"``.
    purpose : str
        What needs it, e.g. ``"TFLite conversion"``; starts the message.
    install : str, optional
        The install command when it is more than the extra's (e.g. build flags).

    Returns
    -------
    module
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or module
        raise MissingDependencyError(
            f"{purpose} needs the Python module '{missing}', which is not installed; "
            f"install the '{extra}' extra: {install or INSTALL_HINT.format(extra=extra)}"
        ) from exc
