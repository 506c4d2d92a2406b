"""Runtime backends: one public module per library, each registering its backends.

Every public module of this package (a name without a leading underscore)
defines backends with ``@register_backend`` where they are defined; adding
a backend is adding its file.  The modules import their library only when a
model is opened, so importing them costs nothing.
"""
from gluon_dl.utils.registry import import_public_modules

MODULES = import_public_modules(__package__, __path__)
