"""Imports every export format so their ``@register_format`` decorators run.

Every public module of this package (a name without a leading underscore)
is a format; adding a format is adding its file.
"""
from gluon_dl.utils.registry import import_public_modules

from . import __path__ as _package_path

FORMATS = import_public_modules(__package__, _package_path)
