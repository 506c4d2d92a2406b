"""Data-set registry: filled by ``@register_dataset`` where each data set is defined.

Each entry is a loader ``fn(split, folders)`` and its :class:`DatasetInfo`.
The registry resolves the folders to search (``<root>/<name>/``, then any
system folder the description names) and checks the split; the loader reads
the official files and raises :class:`DataError` when they are missing or
malformed.  Nothing here downloads: a missing set is an error that says
which files to place where.
"""
import dataclasses
import fnmatch
import os
import re
from pathlib import Path
from typing import Tuple

from ...errors import ArgumentError, ArgumentTypeError, DataError
from ...utils.registry import check_name, unknown_name

#: Environment variable naming the data root; ``~/.gluon_dl/data`` when unset.
ROOT_VARIABLE = "GLUON_DL_DATA"
KINDS = ("image", "text", "tabular")
_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*\Z")
_DATASETS = {}


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a registered data set is, where its files come from and which lesson uses it.

    Parameters
    ----------
    name : str
        Registry name, lowercase words joined by dashes; the set is read from
        ``<root>/<name>/``.
    kind : {"image", "text", "tabular"}
    lesson : str
        The lesson that uses the set.
    source : str
        Where the official files come from, in words.
    files : tuple of str
        The official file names to place in the folder.
    alternatives : tuple of str
        Other accepted forms (an extracted folder, un-gzipped files).
    classes : tuple of str
        Label names, index = label; empty for unlabelled sets.
    splits : tuple of str
        The values ``load_dataset(split=...)`` accepts.
    folders : tuple of str
        System folders searched after ``<root>/<name>/``.
    system_package : str
        The operating-system package that installs the files in ``folders``.
    embedded : bool
        The data ships inside an installed Python package: no folder is searched.
    """

    name: str
    kind: str
    lesson: str
    source: str
    files: Tuple[str, ...] = ()
    alternatives: Tuple[str, ...] = ()
    classes: Tuple[str, ...] = ()
    splits: Tuple[str, ...] = ("train", "test")
    folders: Tuple[str, ...] = ()
    system_package: str = ""
    embedded: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ArgumentError(f"data set name {self.name!r} must be lowercase words joined "
                                f"by dashes, like 'fashion-mnist'")
        if self.kind not in KINDS:
            raise ArgumentError(f"data set '{self.name}': kind must be one of "
                                f"{', '.join(KINDS)}, got {self.kind!r}")
        for field in ("files", "alternatives", "classes", "splits", "folders"):
            object.__setattr__(self, field, tuple(getattr(self, field)))
        if not self.splits or not self.lesson or not self.source:
            raise ArgumentError(f"data set '{self.name}' needs splits, a lesson and a source")
        if not self.embedded and not self.files:
            raise ArgumentError(f"data set '{self.name}' needs the names of its official files")


def register_dataset(info):
    """Register a loader ``fn(split, folders)`` under ``info.name``.

    Parameters
    ----------
    info : DatasetInfo
        The set's description; the loader receives a split from
        ``info.splits`` and the folders to search, in order.
    """
    if not isinstance(info, DatasetInfo):
        raise ArgumentTypeError(f"register_dataset takes a DatasetInfo, got "
                                f"{type(info).__name__}")

    def decorator(fn):
        if info.name in _DATASETS:
            raise ArgumentError(f"data set '{info.name}' is registered twice "
                                f"({_DATASETS[info.name][0].__module__} and {fn.__module__})")
        _DATASETS[info.name] = (fn, info)
        fn.info = info
        return fn
    return decorator


def list_datasets(pattern="*"):
    """Sorted names of registered data sets matching a shell-style ``pattern``."""
    _load_families()
    pattern = check_name("pattern", pattern)
    return sorted(n for n in _DATASETS if fnmatch.fnmatch(n, pattern))


def dataset_info(name):
    """The :class:`DatasetInfo` of data set ``name``.

    Raises
    ------
    UnknownNameError
        For an unknown name; the message lists the close matches.
    """
    return _lookup(name)[1]


def load_dataset(name, split="train", root=None):
    """Load the registered data set ``name`` from its official files, offline.

    Parameters
    ----------
    name : str
        A name of :func:`list_datasets` (``fashion_mnist`` reads as ``fashion-mnist``).
    split : str
        One of the set's ``dataset_info(name).splits``.
    root : str or Path, optional
        Folder holding one sub-folder per set; default ``$GLUON_DL_DATA``,
        else ``~/.gluon_dl/data``.  Embedded sets ignore it.

    Returns
    -------
    Image and tabular sets: ``(X, y)`` numpy arrays, ``y`` int32.  Text sets:
    a str, a list of ``(source, target)`` pairs, or ``(texts, labels)``; see
    each set's loader.

    Raises
    ------
    UnknownNameError
        For an unknown name.
    ArgumentError
        For a split the set does not have.
    DataError
        The files are missing (the message names the folders searched, the
        files to place there and where they come from) or malformed.
    """
    fn, info = _lookup(name)
    if split not in info.splits:
        raise ArgumentError(f"data set '{info.name}' has splits {', '.join(info.splits)}; "
                            f"got split={split!r}")
    folders = [] if info.embedded else [data_root(root) / info.name] + \
        [Path(f) for f in info.folders]
    return fn(split, folders)


def data_root(root=None):
    """The folder that holds one sub-folder per data set.

    ``root`` when given, else ``$GLUON_DL_DATA``, else ``~/.gluon_dl/data``;
    read at call time, so setting the variable later takes effect.
    """
    if root is None:
        root = os.environ.get(ROOT_VARIABLE) or Path("~/.gluon_dl/data")
    if not isinstance(root, (str, os.PathLike)):
        raise ArgumentTypeError(f"root must be a folder path, got {type(root).__name__}")
    return Path(root).expanduser()


def missing_error(info, folders, split=None):
    """The :class:`DataError` for a set none of whose accepted forms is in ``folders``."""
    where = ", ".join(str(f) for f in folders)
    also = f" (or {', '.join(info.alternatives)})" if info.alternatives else ""
    package = (f", or install the package {info.system_package} (apt-get install "
               f"{info.system_package}), which puts them in {', '.join(info.folders)}"
               if info.system_package else "")
    part = f" (split '{split}')" if split else ""
    return DataError(f"data set '{info.name}'{part} not found in {where}: place "
                     f"{', '.join(info.files)}{also} in {folders[0]} ({info.source}){package}; "
                     f"nothing is downloaded (set {ROOT_VARIABLE} or pass root= to read "
                     f"another folder)")


def _lookup(name):
    _load_families()
    key = check_name("data set name", name).lower().replace("_", "-")
    if key not in _DATASETS:
        raise unknown_name("data set", name, _DATASETS,
                           f"list_datasets() lists all {len(_DATASETS)}")
    return _DATASETS[key]


def _load_families():
    # Importing the family modules runs their @register_dataset decorators.
    from . import _families  # noqa: F401
