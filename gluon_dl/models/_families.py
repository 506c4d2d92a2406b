"""Imports every model family so their ``@register_model`` decorators run.

A new family is one new module plus one line here.
"""
from . import lenet  # noqa: F401
