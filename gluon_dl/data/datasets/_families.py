"""Imports every data-set family so their ``@register_dataset`` decorators run.

Every public module of this package (a name without a leading underscore)
is a family; adding a family is adding its file.
"""
import importlib
import pkgutil

from . import __path__ as _package_path

FAMILIES = tuple(sorted(m.name for m in pkgutil.iter_modules(_package_path)
                        if not m.name.startswith("_") and not m.ispkg))

for _name in FAMILIES:
    importlib.import_module(f"{__package__}.{_name}")
