"""All-or-nothing writes to a store: stage every file, then commit them with a journal.

A :class:`Transaction` writes each new version of a store file under
``<store>/_staging/<id>/<same relative path>`` and nothing in the store itself. :meth:`commit`
first writes ``<store>/_staging/<id>/_commit.json`` (atomically: from then on the transaction is
decided), then moves every staged file over its destination with :func:`os.replace`, and removes
the staging folder. Whatever fails or is killed before the journal exists leaves the store as it
was (the staging folder is garbage, removed by the next writer); once the journal exists, the
next writer finishes the moves (:func:`recover`), so a store never stays half-updated.

The store's lock must be held from the first :meth:`Transaction.stage` to the end of
:meth:`Transaction.commit`, and around :func:`recover`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from infotrafic._io import atomic_write

__all__ = ["STAGING", "Transaction", "recover"]

#: The staging area of a store (ignored by pyarrow and pandas, like every ``_`` name).
STAGING = "_staging"
_JOURNAL = "_commit.json"


class Transaction:
    """Stage new versions of store files, then move them all into place (see the module doc).

    Parameters
    ----------
    root : pathlib.Path
        The store folder.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> txn = Transaction(root)
    >>> txn.stage(root / "a" / "b.txt", lambda tmp: tmp.write_text("new"))
    >>> (root / "a" / "b.txt").exists()
    False
    >>> txn.commit()
    >>> (root / "a" / "b.txt").read_text(), (root / "_staging").exists() and any(
    ...     (root / "_staging").iterdir())
    ('new', False)
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / STAGING / uuid.uuid4().hex
        self._staged: dict[str, Path] = {}

    def work_dir(self, name: str) -> Path:
        """Return a scratch folder inside the staging area (removed with it)."""
        path = self.dir / "_work" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def stage(self, dest: Path, write: Callable[[Path], object]) -> None:
        """Write the new version of ``dest`` (a path inside the store) with ``write(tmp)``."""
        rel = dest.relative_to(self.root).as_posix()
        target = self.dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, write)
        self._staged.pop(rel, None)  # re-staged: moved last, like the manifest must be
        self._staged[rel] = target

    def current(self, dest: Path) -> Path:
        """Return where the newest version of ``dest`` is: staged by this transaction or not."""
        staged = self._staged.get(dest.relative_to(self.root).as_posix())
        return staged if staged is not None else dest

    def staged(self) -> list[str]:
        """Return the staged files (relative to the store), in staging order."""
        return list(self._staged)

    def commit(self) -> None:
        """Write the journal, move every staged file into place, remove the staging folder."""
        if self._staged:
            journal = json.dumps({"files": list(self._staged)})
            atomic_write(self.dir / _JOURNAL, lambda tmp: tmp.write_text(journal))
            _apply(self.root, self.dir)
        self.abort()

    def abort(self) -> None:
        """Forget everything staged (the store is untouched)."""
        shutil.rmtree(self.dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.dir.parent.rmdir()  # only when empty


def _apply(root: Path, folder: Path) -> None:
    files = json.loads((folder / _JOURNAL).read_text())["files"]
    for rel in files:
        src = folder / rel
        if src.exists():  # absent: moved by an earlier, interrupted run of this commit
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)


def recover(root: Path) -> int:
    """Finish the commits a killed writer decided; drop what it had only staged.

    Parameters
    ----------
    root : pathlib.Path
        The store folder (its lock held).

    Returns
    -------
    int
        The number of transactions finished.
    """
    area = root / STAGING
    if not area.is_dir():
        return 0
    done = 0
    for folder in sorted(area.iterdir()):
        if (folder / _JOURNAL).exists():
            _apply(root, folder)
            done += 1
        shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        area.rmdir()
    return done
