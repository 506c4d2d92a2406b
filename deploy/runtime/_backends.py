"""The backend registry: which library runs which model file.

Each backend module (:mod:`deploy.runtime.backends`: ``tflite``,
``onnxruntime``, ``mxnet``) defines its backends and registers them with
:func:`register_backend` where they are defined.  Registration order is preference order: the first available
backend for a file's suffix runs it unless the caller names one.
"""
import dataclasses
import importlib.util
import sys
from pathlib import Path
from typing import Optional, Tuple

from gluon_dl.errors import ArgumentError, ModelFileError
from gluon_dl.utils.deps import require
from gluon_dl.utils.io import why_not_a_file
from gluon_dl.utils.registry import unknown_name

_BACKENDS = {}


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor of a loaded model.

    ``shape`` has ``None`` for dynamic axes; ``scale``/``zero_point`` are set for
    quantized integer tensors (real = (q - zero_point) * scale).
    """

    name: str
    shape: Tuple[Optional[int], ...]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self):
        return self.scale != 0.0 and not self.dtype.startswith("float")

    def to_dict(self):
        return dataclasses.asdict(self)


class Session:
    """A model opened by a backend: its tensor specs and a ``run`` method.

    Subclasses set ``inputs`` and ``outputs`` (lists of :class:`TensorSpec`) and
    implement :meth:`run`.
    """

    inputs = ()
    outputs = ()

    def run(self, feeds):
        """Run one batch: ``feeds`` holds one array per entry of ``inputs``, in that order
        (artifact layout and dtype); return the list of outputs in ``outputs`` order."""
        raise NotImplementedError


class Backend:
    """A library that runs model files with the given ``suffixes``.

    Subclasses set ``name``, ``suffixes``, ``format`` (the metadata's
    ``artifact.format`` of the files it runs), ``module`` (the import that
    must succeed), ``extra`` (the package extra that installs it) and
    implement :meth:`open`.
    """

    name = ""
    suffixes = ()
    format = ""
    module = ""
    extra = "edge"

    @classmethod
    def available(cls):
        """Whether the backend's library is installed (checked without importing it)."""
        top = cls.module.split(".")[0]
        if top in sys.modules:
            return sys.modules[top] is not None
        try:
            return importlib.util.find_spec(top) is not None
        except (ImportError, ValueError):
            return False

    @classmethod
    def import_module(cls):
        """Import the backend's library or raise MissingDependencyError."""
        purpose = f"Running {'/'.join(cls.suffixes)} models with the '{cls.name}' backend"
        # The package first: a cached submodule would hide a package blocked in sys.modules.
        require(cls.module.split(".")[0], cls.extra, purpose)
        return require(cls.module, cls.extra, purpose)

    @classmethod
    def companions(cls, path):
        """Other files that :meth:`open` reads besides ``path`` (checked against their SHA-256)."""
        return ()

    @classmethod
    def open(cls, path, num_threads=None):
        """Open ``path`` and return a :class:`Session`; wrap load errors in ModelFileError."""
        raise NotImplementedError


def register_backend(cls):
    """Class decorator: add a :class:`Backend` subclass to the registry."""
    if cls.name in _BACKENDS:
        raise ArgumentError(f"backend '{cls.name}' is registered twice "
                            f"({_BACKENDS[cls.name].__module__} and {cls.__module__})")
    _BACKENDS[cls.name] = cls
    return cls


def available_backends(path=None):
    """Names of the installed backends, in preference order.

    Parameters
    ----------
    path : str or Path, optional
        Only the backends that run this file (by its suffix).
    """
    return [b.name for b in _candidates(path) if b.available()]


def list_backends():
    """Every registered backend name -> the file suffixes it runs."""
    return {name: b.suffixes for name, b in _BACKENDS.items()}


def select_backend(path, backend=None):
    """The backend class that will run ``path``.

    Raises
    ------
    ModelFileError
        For a suffix no backend runs.
    UnknownNameError
        For an unknown backend name; the message lists the registered ones.
    ArgumentError
        For a backend that does not run this suffix.
    MissingDependencyError
        When the chosen (or every suitable) backend is not installed.
    """
    path = Path(path)
    candidates = _candidates(path)
    if not candidates:
        suffixes = sorted({s for b in _BACKENDS.values() for s in b.suffixes})
        raise ModelFileError(f"{path}: unknown model format; gluon-dl runs files ending in "
                             f"{', '.join(suffixes)} (export one with deploy.export)")
    if backend is not None:
        return _named(backend, path)
    for b in candidates:
        if b.available():
            return b
    candidates[0].import_module()  # raises MissingDependencyError with the pip hint
    return candidates[0]


def _named(name, path):
    if not isinstance(name, str) or name not in _BACKENDS:
        raise unknown_name("backend", name, _BACKENDS, f"registered: {', '.join(_BACKENDS)}",
                           cutoff=0.4)
    b = _BACKENDS[name]
    if not _matches(b, path):
        runs = [n for n, c in _BACKENDS.items() if _matches(c, path)]
        raise ArgumentError(f"backend '{name}' runs {', '.join(b.suffixes)} files, not "
                            f"{path.name}; use {' or '.join(runs)} for it")
    if not b.available():
        b.import_module()
    return b


def _candidates(path):
    if path is None:
        return list(_BACKENDS.values())
    return [b for b in _BACKENDS.values() if _matches(b, Path(path))]


def _matches(backend, path):
    return any(path.name.endswith(s) for s in backend.suffixes)


def check_file(path):
    """Raise ModelFileError for a missing or empty model file."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} {why_not_a_file(path)}; check the path or export "
                             f"the model first (deploy.export)")
    if path.stat().st_size == 0:
        raise ModelFileError(f"model file {path} is empty; re-export the model")


def load_error(path, backend, exc):
    """The ModelFileError for a file that ``backend`` could not load."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelFileError(f"{path} could not be loaded by {backend} ({reason}): the file is "
                          f"truncated, corrupt or not a model of this format; re-export it")
