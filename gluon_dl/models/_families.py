"""Imports every model family so their ``@register_model`` decorators run.

Every public module of this package (a name without a leading underscore)
is a family; adding a family is adding its file.
"""
from ..utils.registry import import_public_modules
from . import __path__ as _package_path

FAMILIES = import_public_modules(__package__, _package_path)
