"""Building blocks of the parquet store: paths, hashing, atomic writes, ingest summaries."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from infotrafic._types import PathLike, TimeLike
from infotrafic.exceptions import StoreError

__all__ = ["IngestSummary", "expand_paths", "file_sha256"]

QUARANTINE_COLUMNS: tuple[str, ...] = ("file", "line", "field", "reason", "raw")

#: Suffixes picked up when a directory is given (after stripping a final ``.gz``).
_DATA_SUFFIXES = (".csv", ".txt", ".json", ".jsonl", ".parquet", ".zip")


@dataclass(frozen=True)
class IngestSummary:
    """What one ingest did to the store.

    Attributes
    ----------
    files_ingested : int
        Source files read and merged (0 when a panel was given directly).
    files_skipped : int
        Source files skipped because the manifest already holds their content hash.
    rows_new : int
        Rows whose ``(arc_id, time)`` was not in the store before.
    rows_updated : int
        Rows already in the store whose values changed through the dedupe policy.
    rows_unchanged : int
        Rows already in the store with the same values (re-ingested data).
    duplicates : int
        Rows dropped by the dedupe policy: within each file (as counted by the readers), between
        the files of one ingest, and against the rows already stored.
    conflicts : int
        Duplicated ``(arc_id, time)`` whose values disagreed (as counted by
        :func:`~infotrafic.etl.deduplicate`).
    quarantined : int
        Rejected rows stored under ``_quarantine/``.
    partitions_written : tuple of str
        Partition files (relative to the store) rewritten by this ingest.

    Examples
    --------
    >>> s = IngestSummary(rows_new=3) + IngestSummary(rows_new=2, rows_unchanged=1)
    >>> s.rows_new, s.rows_unchanged
    (5, 1)
    """

    files_ingested: int = 0
    files_skipped: int = 0
    rows_new: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    duplicates: int = 0
    conflicts: int = 0
    quarantined: int = 0
    partitions_written: tuple[str, ...] = field(default=())

    def __add__(self, other: IngestSummary) -> IngestSummary:
        """Combine two summaries (counts add up, partitions are united)."""
        if not isinstance(other, IngestSummary):
            return NotImplemented
        counts: dict[str, Any] = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)
            if f.name != "partitions_written"
        }
        parts = tuple(sorted(set(self.partitions_written) | set(other.partitions_written)))
        return IngestSummary(**counts, partitions_written=parts)

    def to_text(self) -> str:
        """Return a short human-readable summary.

        Returns
        -------
        str
            One line per count.

        Examples
        --------
        >>> print(IngestSummary(rows_new=2).to_text().splitlines()[2])
        rows new                    2
        """
        lines = []
        for f in fields(self):
            value = getattr(self, f.name)
            shown = len(value) if f.name == "partitions_written" else value
            lines.append(f"{f.name.replace('_', ' '):<18} {shown:>10}")
        return "\n".join(lines)


def expand_paths(paths: Iterable[PathLike]) -> list[Path]:
    """Turn files and directories into a sorted list of data files.

    Directories are walked recursively; inside them only files with a known data suffix
    (``.csv``, ``.txt``, ``.json``, ``.jsonl``, ``.parquet``, ``.zip``, each optionally ``.gz``)
    are kept, and names starting with ``.`` or ``_`` are skipped (so a store's ``_raw/`` area is
    never picked up twice). Files named explicitly are always kept.

    Parameters
    ----------
    paths : iterable of path-like
        Files and/or directories.

    Returns
    -------
    list of pathlib.Path
        Files, in the order given, each directory's content sorted; duplicates removed.

    Raises
    ------
    StoreError
        When a path does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for n in ("a.csv.gz", "b.json", "notes.md", "_raw/c.csv"):
    ...     (d / n).parent.mkdir(exist_ok=True); _ = (d / n).write_text("")
    >>> [p.name for p in expand_paths([d])]
    ['a.csv.gz', 'b.json']
    """
    out: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise StoreError(f"{path}: no such file or directory; check the path")
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
                and _is_data_file(p)
            )
        else:
            found = [path]
        for p in found:
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                out.append(p)
    return out


def _is_data_file(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.endswith(_DATA_SUFFIXES)


def file_sha256(path: PathLike) -> str:
    """Return the SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def same_values(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise equality where two missing values count as equal."""
    eq = (a == b).fillna(False).to_numpy(dtype=bool)
    return np.asarray(eq | (a.isna().to_numpy() & b.isna().to_numpy()), dtype=bool)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through ``write(tmp)`` to a hidden temp file beside ``path``, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; store files are meant to be shared
        with open(tmp, "rb") as fh:  # the bytes reach the disk before the name points at them
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    with contextlib.suppress(OSError):  # persist the rename itself (POSIX)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` (no index) as zstd parquet at ``path``, atomically."""
    # One thread: partitions are small, and a thread pool per call costs more than it saves.
    table = pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def sort_panel(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` sorted by ``(arc_id, time)`` with a fresh index (no copy if sorted)."""
    arc = frame["arc_id"].to_numpy()
    time = frame["time"].to_numpy(dtype="datetime64[ns]").view("int64")
    if len(arc) > 1:
        d_arc, d_time = np.diff(arc), np.diff(time)
        if not bool(np.all((d_arc > 0) | ((d_arc == 0) & (d_time > 0)))):
            return frame.iloc[np.lexsort((time, arc))].reset_index(drop=True)
    return frame.reset_index(drop=True)


def to_utc_bound(value: TimeLike | None) -> pd.Timestamp | None:
    """Naive bounds are Europe/Paris wall-clock time (earlier instant when ambiguous)."""
    if value is None:
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("Europe/Paris", ambiguous=True, nonexistent="shift_forward")
    return ts.tz_convert("UTC")


def month_of(times: pd.Series) -> pd.Series:
    """Return ``YYYYMM`` integers of UTC times (the partition key)."""
    out: pd.Series = times.dt.year.astype("int64") * 100 + times.dt.month.astype("int64")
    return out


def empty_quarantine() -> pd.DataFrame:
    """Return an empty quarantine frame (file, line, field, reason, raw)."""
    return pd.DataFrame({c: pd.Series(dtype="string") for c in QUARANTINE_COLUMNS}).astype(
        {"line": "Int64"}
    )
