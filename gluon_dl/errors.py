"""Errors that gluon-dl raises on bad input.

Every error names what was wrong (file, shape, layer, operator) and what to
do about it, so the CLI can print it as one line.  This module imports
nothing but the standard library: the edge runtime uses it too.
"""


class GluonDLError(Exception):
    """Base class of every error gluon-dl raises on purpose."""


class MissingDependencyError(GluonDLError, ImportError):
    """An optional dependency (an extra of the package) is not installed."""


class ModelFileError(GluonDLError):
    """A model file is missing, truncated, corrupt or of an unknown format."""


class InputShapeError(GluonDLError, ValueError):
    """An input array does not have the shape or dtype a model expects."""


class DataError(GluonDLError):
    """A data set file is missing or malformed."""


class OutputExistsError(GluonDLError, FileExistsError):
    """An output would overwrite earlier results without permission."""


class ConversionError(GluonDLError):
    """A model could not be converted to another format."""


class VerificationError(GluonDLError):
    """An exported artifact disagrees with the model it was exported from."""
