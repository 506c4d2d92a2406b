"""Errors that gluon-dl raises on bad input.

Every error names what was wrong (file, shape, layer, operator) and what to
do about it, so the CLI can print it as one line and exit 1.  Anything a user
can cause (a bad argument, file, array or command) raises a class of this
family; a ``ValueError`` or ``TypeError`` from deep inside reads as a bug.

Classes that replace a built-in exception also derive from it (an
:class:`ArgumentError` is a ``ValueError``), so callers that caught the
built-in keep working.  This module imports nothing but the standard
library: the edge runtime uses it too.
"""


class GluonDLError(Exception):
    """Base class of every error gluon-dl raises on purpose."""


class ArgumentError(GluonDLError, ValueError):
    """An argument of a gluon-dl function or command is invalid (a value, a name, a range)."""


class UnknownNameError(ArgumentError, KeyError):
    """A name (model, backend, data set, format) that no registry holds.

    The message lists the close matches.
    """

    def __str__(self):  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(GluonDLError, ImportError):
    """An optional dependency (an extra of the package) is not installed."""


class ModelFileError(GluonDLError):
    """A model or checkpoint file is missing, truncated, corrupt or of an unknown format."""


class IntegrityError(ModelFileError):
    """A file's SHA-256 differs from the one recorded when it was written."""


class InputShapeError(GluonDLError, ValueError):
    """An input array does not have the shape or dtype a model expects."""


class NonFiniteError(GluonDLError, FloatingPointError):
    """NaN or Inf where finite numbers are needed: inputs, gradients or parameters."""


class DataError(GluonDLError):
    """A data set file is missing or malformed."""


class OutputExistsError(GluonDLError, FileExistsError):
    """An output would overwrite earlier results, or files gluon-dl did not write."""


class ConversionError(GluonDLError):
    """A model could not be converted to another format."""


class VerificationError(GluonDLError):
    """An exported artifact disagrees with the model it was exported from."""


class LaunchError(GluonDLError):
    """A distributed job could not be started (host list, command, launcher)."""


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of the wrong type (a str where an int is needed, say)."""


def mxnet_reason(exc):
    """The line of an ``MXNetError`` that says what failed, without MXNet's traceback.

    MXNet's messages start with ``Traceback (most recent call last):`` and
    C++ frames; the reason is the ``Error in operator``/``Check failed`` line,
    else the last line.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = next((line for line in lines if "Error in operator" in line
                   or "Check failed" in line), lines[-1] if lines else type(exc).__name__)
    return reason.replace("MXNetError: ", "")
