"""Atomic file output: write beside the target, then rename.

A crash or an error while writing leaves the earlier file (if any) intact and
no half-written file in its place.
"""
import contextlib
import functools
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from ..errors import OutputExistsError


@functools.lru_cache(maxsize=1)
def _file_mode():
    # mkstemp creates 0600 files; published files get the mode open() would give.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path : str or Path
        Final location of the file.
    mode : str
        ``"wb"`` or ``"w"``.

    Yields
    ------
    file object
        The temporary file to write.
    """
    with atomic_output_path(path) as tmp:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_output_path(path):
    """Yield a temporary path beside ``path`` for a writer that wants a file name.

    Some writers (``mx.nd.save``, ``onnx.save``) take a path, not a file
    object.  They write to the yielded temporary name, which is renamed onto
    ``path`` when the block ends without error and removed otherwise.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def replace_dir(staged, target, remove_last=None):
    """Move the finished directory ``staged`` onto ``target``.

    An existing ``target`` is moved aside to ``.<name>.old-<pid>`` first and
    deleted only after the new one is in place, so a failure never leaves
    neither.  Callers that must decide whether they may replace ``target`` at
    all do so before calling (see :mod:`gluon_dl.utils.outdir`).

    Parameters
    ----------
    staged, target : str or Path
    remove_last : str, optional
        Name of a file in the old ``target`` to delete after everything else,
        so a cleanup interrupted half-way still leaves it behind (the
        output manifest: it lets the next run recognise the remains as ours).

    Returns
    -------
    Path
        ``target``.
    """
    staged, target = Path(staged), Path(target)
    backup = None
    if os.path.lexists(target):
        backup = target.with_name(f".{target.name}.old-{os.getpid()}")
        if os.path.lexists(backup):
            raise OutputExistsError(f"{backup} is in the way of replacing {target}; move it "
                                    f"away and run again")
        os.replace(target, backup)
    try:
        os.replace(staged, target)
    except BaseException:
        if backup is not None:
            os.replace(backup, target)
        raise
    if backup is not None:
        try:
            remove_tree(backup, last=remove_last)
        except OSError as exc:
            # The new results are in place; what is left of the old ones is
            # swept by the next run, so this is worth a warning, not a failure.
            warnings.warn(f"could not delete the earlier results moved aside to {backup} "
                          f"({exc.strerror or exc}); delete it by hand", stacklevel=2)
    return target


def remove_tree(path, last=None):
    """Delete the directory ``path``, its file ``last`` after everything else.

    Symbolic links inside are removed, never followed.
    """
    path = Path(path)
    with os.scandir(path) as it:
        entries = [e for e in it if e.name != last]
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
    if last is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path / last)
    os.rmdir(path)


def why_not_a_file(path):
    """Why ``path`` cannot be read as a file: "does not exist", "is a folder", ..."""
    path = Path(path)
    if not path.exists():
        return "does not exist"
    if path.is_dir():
        return "is a folder, not a file"
    return "is not a regular file"


def as_path(value, what):
    """``value`` as a Path, or ArgumentTypeError naming ``what`` for a non-path (None, 5)."""
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        from ..errors import ArgumentTypeError

        raise ArgumentTypeError(f"{what} must be a file path, got {value!r}")
    return Path(value)
