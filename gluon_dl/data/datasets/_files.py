"""Reading data files and archive members in memory, with bounded sizes.

Archives are never extracted: members are streamed and read into memory,
so a member name such as ``../../x`` cannot write anywhere.  Such names,
links where a data file is expected and members larger than the official
files are refused all the same, since an archive holding them is not the
official one.  Every read is bounded, so a forged size field or a
decompression bomb cannot make us allocate more than the caller's limit.
"""
import tarfile
import zipfile
import zlib
from pathlib import PurePosixPath

from ...errors import DataError

MiB = 2 ** 20
_CHUNK = 4 * MiB


def find(folders, *names):
    """The first ``folder / name`` that exists, trying each folder in order; None if none."""
    for folder in folders:
        for name in names:
            path = folder / name
            if path.exists():
                return path
    return None


def read_at_most(stream, size):
    """Up to ``size`` bytes of ``stream``, read in chunks.

    One ``read(size)`` would allocate ``size`` bytes before reading any:
    chunks allocate only what the stream really holds.
    """
    chunks, total = [], 0
    while total < size:
        chunk = stream.read(min(_CHUNK, size - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def read_bounded(stream, limit, what):
    """All bytes of ``stream``, refused when there are more than ``limit``."""
    data = read_at_most(stream, limit + 1)
    if len(data) > limit:
        raise DataError(f"{what} holds more than {limit // MiB} MiB, more than the official "
                        f"file does; it is not the expected file, replace it")
    return data


def read_file(path, limit):
    """The bytes of file ``path`` (at most ``limit``)."""
    if not path.is_file():
        raise DataError(f"{path} is missing or not a file; place the official file there")
    try:
        with open(path, "rb") as f:
            return read_bounded(f, limit, str(path))
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc}); check its permissions") from exc


def decode_text(data, what):
    """``data`` as text: UTF-8, a leading byte-order mark dropped."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{what} is not UTF-8 text (byte {exc.start}); it is not the "
                        f"official file, replace it") from None


def tar_members(path, wanted, limit, total_limit=4096 * MiB):
    """The regular members of tar ``path`` whose names ``wanted(name)`` accepts.

    Parameters
    ----------
    path : Path
        A tar archive, compressed or not.
    wanted : callable
        ``wanted(member_name) -> bool``.
    limit : int
        Bytes allowed per member read.
    total_limit : int
        Bytes allowed for the whole archive (every member, read or skipped).

    Returns
    -------
    dict
        ``{member name: bytes}``.
    """
    members, total = {}, 0
    try:
        with tarfile.open(path, mode="r|*") as tar:
            for member in tar:
                _check_name(path, member.name)
                total += member.size
                if total > total_limit:
                    raise DataError(f"{path} unpacks to more than {total_limit // MiB} MiB; "
                                    f"it is not the official archive, download it again")
                if not wanted(member.name):
                    continue
                if not member.isreg():
                    raise DataError(f"{path}: member {member.name} is a link or a special "
                                    f"file, not data; download the official archive again")
                members[member.name] = read_bounded(tar.extractfile(member), limit,
                                                    f"{path}: member {member.name}")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is not a readable tar archive ({type(exc).__name__}: {exc}); "
                        f"download it again") from exc
    return members


def zip_members(path, wanted, limit):
    """The members of zip ``path`` whose names ``wanted(name)`` accepts: ``{name: bytes}``."""
    members = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                _check_name(path, info.filename)
                if info.is_dir() or not wanted(info.filename):
                    continue
                if info.file_size > limit:
                    raise DataError(f"{path}: member {info.filename} unpacks to "
                                    f"{info.file_size // MiB} MiB, more than the official "
                                    f"file; download the official archive again")
                with zf.open(info) as f:
                    members[info.filename] = read_bounded(f, limit,
                                                          f"{path}: member {info.filename}")
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError,
            RuntimeError) as exc:
        raise DataError(f"{path} is not a readable zip archive ({type(exc).__name__}: {exc}); "
                        f"download it again") from exc
    return members


def _check_name(path, name):
    """Refuse a member name that would leave the folder it is read into."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise DataError(f"{path}: member {name!r} points outside the archive's folder; it is "
                        f"not the official archive, do not extract it, download it again")
