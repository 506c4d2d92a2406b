"""Output folders that gluon-dl writes, and may later replace.

Every command that writes a folder of results under ``--out`` (``gluon-dl
demo`` today, the ``deploy`` and ``train`` commands to come) goes through one
call, :func:`staged_output`::

    from gluon_dl.utils.outdir import staged_output

    with staged_output(args.out, "demo", overwrite=args.overwrite) as staged:
        write_results_into(staged.path)      # a staging folder beside --out
    print(staged.published(staged.path / "report.json"))   # now under --out

and may call :func:`check_output_dir` first to fail before any slow work.

The rules that keep the user's files safe:

* a missing or empty folder is written;
* a folder whose manifest (``.gluon-dl-manifest.json``, the last file a run
  publishes: command, version, time, and every file it wrote with its size
  and SHA-256) accounts for everything in it is replaced, but only with
  ``overwrite``;
* anything else is refused, ``overwrite`` or not: a folder without a valid
  manifest, a file the manifest does not list or whose content changed since
  (the user put it there), a symbolic link, a path that is a file;
* the current folder, its parents, the home folder, its parents and ``/`` are
  refused whatever they hold.

Results are built in ``.<name>.partial-<pid>`` beside the output folder and
swapped in at the end (:func:`~gluon_dl.utils.io.replace_dir`), so a failed
or killed run never damages an earlier one.  What a killed run leaves behind
is swept by the next run on the same folder: its staging folder (recognised
by name, by a dead owner process and by the staging marker inside) is
deleted, and earlier results it had moved aside (``.<name>.old-<pid>``,
recognised by their manifest) are put back when the output folder is gone.
"""
import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import re
import socket
import stat
import warnings
from pathlib import Path

from ..errors import ArgumentError, OutputExistsError
from . import safejson
from .io import atomic_write_text, remove_tree, replace_dir

MANIFEST_NAME = ".gluon-dl-manifest.json"
MANIFEST_FORMAT = "gluon-dl-output/1"
STAGING_MARKER = ".gluon-dl-staging.json"
STAGING_FORMAT = "gluon-dl-staging/1"
_MAX_MANIFEST_BYTES = 64 << 20  # far above any real manifest; a bigger file is not ours
_SHA256 = re.compile(r"[0-9a-f]{64}")

__all__ = ["MANIFEST_NAME", "StagedOutput", "check_output_dir", "read_manifest",
           "staged_output", "sweep_leftovers", "write_manifest"]


@dataclasses.dataclass(frozen=True)
class StagedOutput:
    """A run's staging folder and the output folder it will become."""

    path: Path
    target: Path

    def published(self, staged_path):
        """Where ``staged_path`` (a path under :attr:`path`) lives once published."""
        return self.target / Path(staged_path).relative_to(self.path)


@contextlib.contextmanager
def staged_output(out, command, overwrite=False, details=None):
    """Stage a run's results beside ``out`` and publish them with a manifest.

    Parameters
    ----------
    out : str or Path
        The output folder the user asked for (``--out``).
    command : str
        The command writing it (``"demo"``), recorded in the manifest.
    overwrite : bool
        Replace results an earlier gluon-dl run wrote there (``--overwrite``).
    details : dict, optional
        JSON-serialisable facts about the run (settings) for the manifest.

    Yields
    ------
    StagedOutput
        Write everything into ``.path``.  When the block ends without error
        the folder is checked again (it may have changed while the run
        worked), the manifest is written and the staging folder replaces
        ``out``; when it raises, the staging folder is deleted and ``out``
        is left as it was.

    Raises
    ------
    OutputExistsError
        ``out`` may not be written (see the module's rules).
    ArgumentError
        ``out`` cannot be created (a parent is a file, no permission).
    """
    target = _safe_target(out)
    sweep_leftovers(target)
    check_output_dir(out, overwrite)
    stage = _create_stage(target, out)
    try:
        yield StagedOutput(stage, target)
        check_output_dir(out, overwrite)
        write_manifest(stage, command, details)
        os.unlink(stage / STAGING_MARKER)  # the manifest now marks the folder as ours
        replace_dir(stage, target, remove_last=MANIFEST_NAME)
    except BaseException:
        _discard(stage, STAGING_MARKER)
        raise


def check_output_dir(out, overwrite=False):
    """Raise unless a run may write its results to ``out``; return it resolved.

    Reads only: nothing is created or deleted.

    Raises
    ------
    OutputExistsError
        ``out`` is a file, a folder that is not ours, or ours without ``overwrite``.
    ArgumentError
        ``out`` is the current folder, the home folder, one of their parents
        or ``/``, or cannot be read.
    """
    target = _safe_target(out)
    if not os.path.lexists(target):
        return target
    if target.is_symlink() or not target.is_dir():
        raise OutputExistsError(f"output folder {out} is a file, not a folder; choose a new "
                                f"folder path")
    try:
        empty = not os.listdir(target)
    except OSError as exc:
        raise ArgumentError(f"cannot read output folder {out} ({exc.strerror or exc}); "
                            f"choose a folder you can read and write") from exc
    if empty:
        return target
    manifest = read_manifest(target)
    if manifest is None:
        raise OutputExistsError(f"output folder {out} is not empty and was not written by "
                                f"gluon-dl; choose an empty or new folder (gluon-dl replaces "
                                f"only folders its {MANIFEST_NAME} accounts for)")
    stray = _first_stray(target, manifest)
    if stray:
        raise OutputExistsError(f"output folder {out} holds {stray}; gluon-dl replaces only "
                                f"folders that hold nothing but its own results: move that "
                                f"away or choose another folder")
    if not overwrite:
        raise OutputExistsError(f"output folder {out} holds the results of an earlier "
                                f"gluon-dl {manifest['command']} run; pass --overwrite to "
                                f"replace them or choose another folder")
    return target


def write_manifest(folder, command, details=None):
    """Record every file under ``folder`` in its manifest; returns the manifest's path.

    Symbolic links and other special files are left out, so a folder holding
    one is never replaced later.
    """
    from .. import __version__

    folder = Path(folder)
    files, dirs = [], []
    for rel, entry in _walk(folder):
        if entry.is_dir(follow_symlinks=False):
            dirs.append(rel)
        elif entry.is_file(follow_symlinks=False) and rel not in (MANIFEST_NAME, STAGING_MARKER):
            size, digest = _size_and_sha256(entry.path)
            files.append({"path": rel, "size": size, "sha256": digest})
    manifest = {
        "format": MANIFEST_FORMAT,
        "command": str(command),
        "gluon_dl_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "files": sorted(files, key=lambda f: f["path"]),
        "dirs": sorted(dirs),
    }
    if details is not None:
        manifest["details"] = details
    return atomic_write_text(folder / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")


def read_manifest(folder):
    """The manifest of ``folder`` as a dict, or None when it has no valid one."""
    path = Path(folder) / MANIFEST_NAME
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_MANIFEST_BYTES:
            return None
        manifest = safejson.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None  # unreadable or not JSON: not a manifest gluon-dl wrote
    return manifest if _valid_manifest(manifest) else None


def sweep_leftovers(out):
    """Clean up after runs on ``out`` that were killed; returns what was done.

    Looks only at folders beside ``out`` named exactly ``.<name>.partial-<pid>``
    or ``.<name>.old-<pid>`` whose process ``pid`` is gone.  A staging folder
    is deleted when it holds the staging marker of that process on this host
    (or, published but not yet swapped in, a manifest accounting for all of
    it).  Earlier results moved aside (a manifest accounting for all of it)
    are moved back to ``out`` when ``out`` is missing, deleted otherwise.
    Anything else is left alone.

    Returns
    -------
    list of (str, Path)
        ``("removed", path)`` and ``("restored", path)`` pairs.
    """
    target = Path(out)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(partial|old)-([1-9][0-9]{{0,9}})")
    try:
        candidates = sorted(target.parent.iterdir())
    except OSError:
        return []  # no parent yet (nothing to sweep) or unreadable (creating the stage says why)
    done = []
    for path in candidates:
        match = pattern.fullmatch(path.name)
        if not match or path.is_symlink() or not path.is_dir():
            continue
        kind, pid = match.group(1), int(match.group(2))
        if _process_alive(pid) or not _left_by_us(path, kind, pid, target.name):
            continue
        if kind == "old" and not os.path.lexists(target):
            os.replace(path, target)
            done.append(("restored", path))
        elif _discard(path, STAGING_MARKER if kind == "partial" else MANIFEST_NAME):
            done.append(("removed", path))
    return done


def _discard(path, last):
    """Delete a folder of ours; a failure is a warning, since it must not hide the run's outcome."""
    if not os.path.isdir(path):
        return False
    try:
        remove_tree(path, last=last)
    except OSError as exc:
        warnings.warn(f"could not delete {path} ({exc.strerror or exc}); delete it by hand",
                      stacklevel=3)
        return False
    return True


def _safe_target(out):
    """``out`` resolved, refused when replacing it would take the user's folders with it."""
    if out is None or str(out).strip() == "":
        raise ArgumentError("the output folder is empty; pass --out FOLDER")
    try:
        target = Path(out).expanduser().resolve()
        cwd = Path.cwd().resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise ArgumentError(f"cannot resolve output folder {out} ({exc}); choose another "
                            f"folder") from exc
    if target == cwd or target in cwd.parents:
        raise ArgumentError(f"output folder {out} is the current folder or one of its "
                            f"parents; choose a new folder inside it, e.g. --out "
                            f"{Path(out) / 'gluon_dl_results'}")
    home = _home()
    if home is not None and (target == home or target in home.parents):
        raise ArgumentError(f"output folder {out} is the home folder or one of its parents; "
                            f"choose a new folder inside it")
    if target.parent == target:
        raise ArgumentError(f"output folder {out} is the file-system root; choose a new folder")
    return target


def _home():
    try:
        return Path.home().resolve()
    except (OSError, RuntimeError, KeyError):
        return None  # no home folder known: nothing to protect


def _create_stage(target, out):
    stage = target.with_name(f".{target.name}.partial-{os.getpid()}")
    if os.path.lexists(stage):
        # The sweep removed any leftover of ours under this name, so this one is not ours.
        raise OutputExistsError(f"{stage} is in the way of the staging folder for {out}; move "
                                f"it away and run again")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        stage.mkdir()
    except OSError as exc:
        raise ArgumentError(f"cannot create output folder {out}: {_why_not(target, exc)}; "
                            f"choose a folder you can write to") from exc
    marker = {"format": STAGING_FORMAT, "pid": os.getpid(), "host": socket.gethostname(),
              "target": target.name}
    atomic_write_text(stage / STAGING_MARKER, json.dumps(marker) + "\n")
    return stage


def _why_not(target, exc):
    for parent in target.parents:
        if os.path.lexists(parent):
            if not parent.is_dir():
                return f"{parent} is a file"
            break
    return exc.strerror or str(exc)


def _process_alive(pid):
    if pid == os.getpid():
        # This run has not created its staging folder yet: one with its pid
        # was left by an earlier process that had the same pid, now gone.
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    except OverflowError:
        return True  # not a pid this system can hold: not ours, keep the folder
    return True


def _left_by_us(path, kind, pid, target_name):
    manifest = read_manifest(path)
    try:
        if manifest is not None and _first_stray(path, manifest) is None:
            return True
    except OutputExistsError:
        return False  # a folder we cannot look into is not known to be ours
    if kind != "partial":
        return False
    try:
        marker = safejson.loads((path / STAGING_MARKER).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    # A process on another host sharing this folder (NFS) has a pid we cannot check.
    return marker == {"format": STAGING_FORMAT, "pid": pid, "host": socket.gethostname(),
                      "target": target_name}


def _valid_manifest(m):
    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT:
        return False
    if not isinstance(m.get("command"), str) or not isinstance(m.get("dirs"), list):
        return False
    files = m.get("files")
    if not isinstance(files, list) or not all(isinstance(d, str) for d in m["dirs"]):
        return False
    return all(isinstance(f, dict) and isinstance(f.get("path"), str)
               and type(f.get("size")) is int and isinstance(f.get("sha256"), str)
               and _SHA256.fullmatch(f["sha256"]) for f in files)


def _first_stray(folder, manifest):
    """The first entry of ``folder`` the manifest does not vouch for, described; or None."""
    files = {f["path"]: f for f in manifest["files"]}
    dirs = set(manifest["dirs"])
    for rel, entry in _walk(folder):
        if rel == MANIFEST_NAME:
            continue
        if entry.is_symlink():
            return f"the symbolic link {rel}, which gluon-dl did not write"
        if entry.is_dir():
            if rel not in dirs:
                return f"the folder {rel}, which gluon-dl did not write"
            continue
        listed = files.get(rel)
        if listed is None or not entry.is_file():
            return f"{rel}, which gluon-dl did not write"
        try:
            unchanged = (listed["size"], listed["sha256"]) == _size_and_sha256(entry.path)
        except OSError as exc:
            return f"{rel}, which cannot be read ({exc.strerror or exc})"
        if not unchanged:
            return f"{rel}, which changed since gluon-dl wrote it"
    return None


def _walk(folder, prefix=""):
    """Yield ``(relative posix path, os.DirEntry)`` of everything under ``folder``.

    Unlike ``os.walk`` an unreadable folder raises instead of being skipped:
    a folder we could not look into must not be replaced.
    """
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise OutputExistsError(f"cannot look into {folder} ({exc.strerror or exc}); choose "
                                f"another output folder") from exc
    for entry in entries:
        rel = prefix + entry.name
        yield rel, entry
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path, rel + "/")


def _size_and_sha256(path):
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()
