"""Atomic writes of files and directories: a reader never sees half of one.

A file is written to a temporary sibling (same directory, so the final rename stays on one file
system), flushed and synced, then renamed over the destination with :func:`os.replace`. A
directory is built under a temporary sibling and swapped in with two renames. Whatever fails or
is killed before the rename leaves the destination as it was; the temporary sibling is removed
on failure (a killed process can leave one behind: their names start with ``.`` and end with
``.tmp``). A file that must keep a fixed temporary name (a resumable download's ``.part``) is
written by its owner and handed to :func:`publish`, the last step of every atomic write here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from infotrafic._types import PathLike

__all__ = [
    "TMP_SUFFIX",
    "atomic_directory",
    "atomic_write",
    "atomic_write_text",
    "file_sha256",
    "json_safe",
    "publish",
]

#: Suffix of the temporary siblings (a killed process can leave ``.<name>.<random>.tmp``).
TMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Permissions of what is written: those of a plain ``open`` or ``mkdir`` (``tempfile`` makes
#: private files and directories, which other users, e.g. a service account, could not read).
_FILE_MODE = 0o666 & ~_umask()
_DIR_MODE = 0o777 & ~_umask()


def atomic_write(path: PathLike, write: Callable[[Path], object]) -> Path:
    """Write a file atomically: ``write(tmp)`` fills a temporary sibling, renamed at the end.

    Parameters
    ----------
    path : str or os.PathLike
        The destination; its parent directories are created.
    write : callable
        Called with the temporary path; writes the whole content there.

    Returns
    -------
    pathlib.Path
        The destination.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a" / "b.txt"
    >>> atomic_write(out, lambda tmp: tmp.write_text("hello")).read_text()
    'hello'
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=TMP_SUFFIX, dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, _FILE_MODE)
        write(tmp)
        return publish(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def publish(tmp: PathLike, dest: PathLike) -> Path:
    """Move a complete file over its destination durably: sync its bytes, rename, sync the folder.

    The last step of :func:`atomic_write`, for writers that must choose the temporary name
    themselves (a resumable download keeps ``<name>.part``). ``tmp`` must be on the same file
    system as ``dest`` (a sibling).

    Parameters
    ----------
    tmp : str or os.PathLike
        The complete temporary file.
    dest : str or os.PathLike
        The destination, replaced at once.

    Returns
    -------
    pathlib.Path
        The destination.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> part = pathlib.Path(tempfile.mkdtemp()) / "a.csv.part"
    >>> _ = part.write_text("x")
    >>> publish(part, part.with_name("a.csv")).read_text(), part.exists()
    ('x', False)
    """
    src, target = Path(tmp), Path(dest)
    with open(src, "rb") as fh:  # the bytes reach the disk before the name points at them
        os.fsync(fh.fileno())
    os.replace(src, target)
    _fsync_dir(target.parent)
    return target


def _fsync_dir(path: Path) -> None:
    """Persist a rename in ``path`` itself (POSIX; a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def file_sha256(path: PathLike) -> str:
    """Return the SHA-256 hex digest of a file's bytes.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    str
        64 hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write UTF-8 text to a file atomically (see :func:`atomic_write`).

    Parameters
    ----------
    path : str or os.PathLike
        The destination.
    text : str
        The content.

    Returns
    -------
    pathlib.Path
    """
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


@contextlib.contextmanager
def atomic_directory(path: PathLike) -> Iterator[Path]:
    """Build a directory atomically: fill the yielded temporary directory, swapped in on exit.

    An existing destination is replaced only once the new one is complete (it is moved aside,
    the new one renamed in, then the old one deleted). On an exception the temporary directory
    is removed and the destination is left untouched.

    Parameters
    ----------
    path : str or os.PathLike
        The destination directory.

    Yields
    ------
    pathlib.Path
        The temporary directory to fill.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "model"
    >>> with atomic_directory(out) as tmp:
    ...     _ = (tmp / "manifest.json").write_text("{}")
    >>> sorted(p.name for p in out.iterdir())
    ['manifest.json']
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=TMP_SUFFIX, dir=dest.parent))
    try:
        os.chmod(tmp, _DIR_MODE)
        yield tmp
        _fsync_tree(tmp)
        if dest.exists():
            old = Path(
                tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old.tmp", dir=dest.parent)
            )
            os.replace(dest, old / dest.name)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_tree(root: Path) -> None:
    for file in root.rglob("*"):
        if file.is_file():
            with open(file, "rb") as fh:
                os.fsync(fh.fileno())


def json_safe(value: Any) -> Any:
    """Return ``value`` with only JSON types (objects with ``to_dict`` expanded, others repr'd).

    Examples
    --------
    >>> json_safe({"a": (1, 2), 3: None})
    {'a': [1, 2], '3': None}
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    to_dict = getattr(value, "to_dict", None)
    return json_safe(to_dict()) if callable(to_dict) else repr(value)
