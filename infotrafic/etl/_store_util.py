"""Building blocks of the parquet store: paths, hashing, atomic writes, ingest summaries."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from infotrafic._io import TMP_SUFFIX, atomic_write, file_sha256
from infotrafic._time import parse_user_time
from infotrafic._types import PathLike, TimeLike
from infotrafic.etl._dedupe import strictly_ordered
from infotrafic.exceptions import ConfigurationError, StoreError

__all__ = ["IngestSummary", "atomic_write", "expand_paths", "file_sha256"]

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
    files_failed : int
        Source files that loaded nothing (unreadable, truncated, no usable row): not recorded
        as ingested, named by the :class:`~infotrafic.exceptions.IngestError` raised at the end.
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
    files_failed: int = 0
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
        >>> print(IngestSummary(rows_new=2).to_text().splitlines()[3])
        rows new                    2
        """
        lines = []
        for f in fields(self):
            value = getattr(self, f.name)
            shown = len(value) if f.name == "partitions_written" else value
            lines.append(f"{f.name.replace('_', ' '):<18} {shown:>10}")
        return "\n".join(lines)


def expand_paths(paths: Iterable[PathLike], *, empty_ok: bool = True) -> list[Path]:
    """Turn files and directories into a sorted list of data files.

    Directories are walked recursively; inside them only files with a known data suffix
    (``.csv``, ``.txt``, ``.json``, ``.jsonl``, ``.parquet``, ``.zip``, each optionally ``.gz``)
    are kept, and names starting with ``.`` or ``_`` are skipped (so a store's ``_raw/`` area is
    never picked up twice). Files named explicitly are always kept.

    Parameters
    ----------
    paths : iterable of path-like
        Files and/or directories.
    empty_ok : bool, default True
        When False, a directory without any data file is an error (what was given to be read
        must hold something to read).

    Returns
    -------
    list of pathlib.Path
        Files, in the order given, each directory's content sorted; duplicates removed.

    Raises
    ------
    StoreError
        When a path does not exist.
    ConfigurationError
        With ``empty_ok=False``, when a directory holds no data file.

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
            found = _walk(path)
            if not found and not empty_ok:
                raise ConfigurationError(
                    f"no data files in {path} (looked for {', '.join(_DATA_SUFFIXES)}, optionally "
                    "gzipped, skipping names that start with '.' or '_'); give files or another "
                    "folder"
                )
        else:
            found = [path]
        for p in found:
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                out.append(p)
    return out


def _walk(root: Path) -> list[Path]:
    """Return the data files below ``root`` (sorted), skipping names starting with . or _.

    A folder that cannot be listed or a file that cannot be looked at is an error naming it,
    never a silent gap (``Path.rglob`` skips unreadable folders without a word).
    """

    def fail(exc: OSError) -> None:
        raise exc

    found = []
    try:
        for folder, dirs, names in os.walk(root, onerror=fail):
            dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
            for name in names:
                p = Path(folder) / name
                if not name.startswith((".", "_")) and _is_data_file(p) and p.is_file():
                    found.append(p)
    except OSError as exc:
        where = exc.filename if exc.filename is not None else root
        raise StoreError(
            f"{where}: cannot read ({exc.strerror or exc}); check its permissions"
        ) from exc
    return sorted(found)


def _is_data_file(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.endswith(_DATA_SUFFIXES)


def same_values(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise equality where two missing values count as equal."""
    eq = (a == b).fillna(False).to_numpy(dtype=bool)
    return np.asarray(eq | (a.isna().to_numpy() & b.isna().to_numpy()), dtype=bool)


def remove_stale_temps(root: Path) -> int:
    """Delete the temp files :func:`atomic_write` left in ``root`` and its sub-folders.

    Only a process killed between writing and renaming leaves one. Call it while holding the
    store's lock (no writer is running then). Returns how many were removed.
    """
    removed = 0
    for pattern in (f".*{TMP_SUFFIX}", f"*/.*{TMP_SUFFIX}"):
        for tmp in root.glob(pattern):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed += 1
    return removed


#: Rows per parquet row group: a row group of a partition sorted by ``(arc_id, time)`` holds a
#: few dozen arcs of one month, so a read of a few arcs skips the others by their statistics.
ROW_GROUP_ROWS = 65_536
#: Columns worth a parquet dictionary (few distinct values); times and measures compress as
#: well without one, and are written and read more than twice as fast.
_DICTIONARY_COLUMNS = ("arc_id", "traffic_state", "closure_state", "file", "field", "reason")


def parquet_writer(frame: pd.DataFrame) -> Callable[[Path], None]:
    """Return ``write(path)`` writing ``frame`` (no index) as zstd parquet, small row groups."""
    # One thread: partitions are small, and a thread pool per call costs more than it saves.
    table = pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)

    dictionary = [c for c in _DICTIONARY_COLUMNS if c in table.column_names]

    def write(path: Path) -> None:
        pq.write_table(
            table,
            path,
            compression="zstd",
            row_group_size=ROW_GROUP_ROWS,
            use_dictionary=dictionary,
        )

    return write


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` (no index) as zstd parquet at ``path``, atomically."""
    atomic_write(path, parquet_writer(frame))


def sort_panel(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` sorted by ``(arc_id, time)`` with a fresh index (no copy if sorted)."""
    if not strictly_ordered(frame):
        arc = frame["arc_id"].to_numpy()
        time = frame["time"].to_numpy(dtype="datetime64[ns]").view("int64")
        return frame.iloc[np.lexsort((time, arc))].reset_index(drop=True)
    return frame.reset_index(drop=True)


def to_utc_bound(value: TimeLike | None, *, name: str = "time") -> pd.Timestamp | None:
    """Read a read bound by the library's one rule for user times (``None`` stays open).

    Naive bounds are Europe/Paris wall-clock time; an ambiguous or non-existent Paris time is
    refused, naming the candidate instants (:func:`infotrafic._time.parse_user_time`); a bound
    need not fall on the hour.
    """
    return None if value is None else parse_user_time(value, name=name, on_hour=False)


def month_of(times: pd.Series) -> pd.Series:
    """Return ``YYYYMM`` integers of UTC times (the partition key)."""
    out: pd.Series = times.dt.year.astype("int64") * 100 + times.dt.month.astype("int64")
    return out


def empty_quarantine() -> pd.DataFrame:
    """Return an empty quarantine frame (file, line, field, reason, raw)."""
    return pd.DataFrame({c: pd.Series(dtype="string") for c in QUARANTINE_COLUMNS}).astype(
        {"line": "Int64"}
    )
