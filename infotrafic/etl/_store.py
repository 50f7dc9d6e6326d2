"""A local parquet store of the canonical panel, with raw and processed areas.

Layout of a store directory (everything that is not panel data has a ``_`` prefix, which pyarrow
ignores, so ``pandas.read_parquet(<store>)`` returns exactly the canonical panel)::

    <store>/
        2023/2023-01.parquet     panel rows whose UTC time falls in 2023-01, sorted by arc_id, time
        2023/2023-02.parquet
        _raw/                    source files exactly as ingested (the raw area)
        _arcs.parquet            the arcs table, merged over every ingest
        _quarantine/             rejected rows (file, line, field, reason, raw), one file per ingest
        _manifest.json           ingested source files by SHA-256 content hash, with their counts
        _lock                    taken by every writer

Every file is written to a temporary name in its final directory and then moved into place with
:func:`os.replace`, so a reader sees either the old or the new file, never half of one. Writers
hold ``_lock`` for the whole read-merge-write cycle; on taking it, a writer deletes the temporary
files (``.<name>.<random>.tmp``) that a writer killed before its rename left behind. An ingest
interrupted between two partitions leaves every partition valid; running it again completes it,
because merging is idempotent.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from infotrafic._schema import (
    ARC_COLUMNS,
    PANEL_COLUMNS,
    PANEL_DTYPES,
    empty_panel,
    validate_panel,
)
from infotrafic._types import PathLike, TimeLike
from infotrafic.etl._dedupe import deduplicate
from infotrafic.etl._store_util import (
    QUARANTINE_COLUMNS,
    IngestSummary,
    atomic_write,
    empty_quarantine,
    expand_paths,
    file_sha256,
    month_of,
    remove_stale_temps,
    same_values,
    sort_panel,
    to_utc_bound,
    write_parquet,
)
from infotrafic.exceptions import FileFormatError, IngestError, StoreError

__all__ = ["IngestSummary", "ParquetStore", "expand_paths"]

_MANIFEST_VERSION = 1
_KEY = ["arc_id", "time"]


class _ResultLike(Protocol):
    """What :meth:`ParquetStore.ingest` needs from a :class:`~infotrafic.etl.ReadResult`."""

    @property
    def panel(self) -> pd.DataFrame: ...  # pragma: no cover

    @property
    def arcs(self) -> pd.DataFrame: ...  # pragma: no cover

    @property
    def quarantine(self) -> pd.DataFrame: ...  # pragma: no cover


_ARC_FACTOR = 10_000_000  # hours since 1970 stay below this until the year 3110
_NS_PER_HOUR = 3_600_000_000_000


def _keys(frame: pd.DataFrame) -> np.ndarray:
    """One int64 per row, ordered like ``(arc_id, time)`` (times are on the hour)."""
    hours = frame["time"].to_numpy(dtype="datetime64[ns]").view("int64") // _NS_PER_HOUR
    return np.asarray(frame["arc_id"].to_numpy(dtype="int64") * _ARC_FACTOR + hours)


def _deduplicate(
    panel: pd.DataFrame, by_arc: dict[int, list[int]]
) -> tuple[pd.DataFrame, int, int]:
    """Apply the library's one dedupe policy; return (frame, duplicates dropped, conflicts).

    ``by_arc`` accumulates ``[duplicates, conflicts]`` per arc: duplicates from the key counts,
    conflicts from the policy itself run per arc on the duplicated keys (only when some exist).
    """
    out, stats = deduplicate(panel)
    if stats.duplicates:
        keys = _keys(panel)
        uniq, counts = np.unique(keys, return_counts=True)
        repeated = counts > 1
        dup_arcs = uniq[repeated] // _ARC_FACTOR
        extra = pd.Series(counts[repeated] - 1).groupby(dup_arcs).sum()
        for arc_id, n in extra.items():
            by_arc.setdefault(int(str(arc_id)), [0, 0])[0] += int(n)
        if stats.conflicts:
            dupes = panel[np.isin(keys, uniq[repeated])]
            for arc_id, rows in dupes.groupby("arc_id", sort=True):
                by_arc[int(str(arc_id))][1] += deduplicate(rows)[1].conflicts
    return out, stats.duplicates, stats.conflicts


class ParquetStore:
    """A local parquet store of the canonical panel (see the module docstring for the layout).

    Parameters
    ----------
    path : path-like
        The store directory; created on first write.
    lock_timeout : float, default 600
        Seconds to wait for another writer's lock before raising :class:`StoreError`.

    Examples
    --------
    >>> import tempfile
    >>> import pandas as pd
    >>> store = ParquetStore(tempfile.mkdtemp())
    >>> panel = pd.DataFrame({"arc_id": [4264, 4264],
    ...                       "time": pd.to_datetime(["2023-02-01 22:00", "2023-02-01 23:00"],
    ...                                              utc=True),
    ...                       "flow": [764.0, 650.0]})
    >>> store.ingest(panel).rows_new
    2
    >>> store.ingest(panel).rows_unchanged
    2
    >>> pd.read_parquet(store.path).columns.tolist()
    ['arc_id', 'time', 'flow', 'occupancy', 'traffic_state', 'closure_state']
    >>> store.latest_time()
    {4264: Timestamp('2023-02-01 23:00:00+0000', tz='UTC')}
    """

    def __init__(self, path: PathLike, *, lock_timeout: float = 600.0) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.path}: exists and is not a directory; choose a store folder")
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"ParquetStore({str(self.path)!r})"

    # -- layout ---------------------------------------------------------------------------------
    @property
    def raw_dir(self) -> Path:
        """Where source files are kept exactly as ingested (``<store>/_raw``)."""
        return self.path / "_raw"

    @property
    def manifest_path(self) -> Path:
        """The JSON manifest of ingested files (``<store>/_manifest.json``)."""
        return self.path / "_manifest.json"

    def partitions(self) -> list[Path]:
        """Return the panel partition files, oldest month first.

        Returns
        -------
        list of pathlib.Path
            Files ``<store>/YYYY/YYYY-MM.parquet``.
        """
        if not self.path.is_dir():
            return []
        pattern = "[0-9][0-9][0-9][0-9]/[0-9][0-9][0-9][0-9]-[0-9][0-9].parquet"
        return sorted(p for p in self.path.glob(pattern) if p.is_file())

    def _partition_path(self, month: int) -> Path:
        year, mon = divmod(month, 100)
        return self.path / f"{year:04d}" / f"{year:04d}-{mon:02d}.parquet"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot create the store folder ({exc})") from exc
        lock = FileLock(str(self.path / "_lock"), timeout=self.lock_timeout)
        try:
            lock.acquire()
        except Timeout as exc:
            raise StoreError(
                f"{self.path}: another process has held {self.path / '_lock'} for more than "
                f"{self.lock_timeout:g} s; wait for it to finish or raise lock_timeout"
            ) from exc
        try:
            remove_stale_temps(self.path)  # left by a writer killed before its rename
            yield
        finally:
            lock.release()

    # -- manifest -------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """Return the manifest: ingested files keyed by SHA-256, with their counts.

        Returns
        -------
        dict
            ``{"version": 1, "files": {sha256: {"name", "source", "size", "raw", "ingested_at",
            "rows", "arcs", "quarantined", "report"}}, "merge": {"duplicates", "conflicts",
            "by_arc": {arc: [duplicates, conflicts]}}}`` -- ``merge`` counts the duplicates
            resolved between ingested files and against the stored rows.
        """
        if not self.manifest_path.exists():
            return {"version": _MANIFEST_VERSION, "files": {}}
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"{self.manifest_path}: unreadable manifest ({exc}); restore it from a backup or "
                "delete it (the next ingest re-reads files already stored, merging adds nothing)"
            ) from exc
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise StoreError(f"{self.manifest_path}: not a store manifest; delete it to rebuild")
        return data

    def file_records(self) -> list[dict[str, Any]]:
        """Return the manifest's record of every ingested file, in ingestion order.

        Returns
        -------
        list of dict
            Each with ``name``, ``source``, ``sha256``, ``size``, ``raw``, ``ingested_at``,
            ``rows``, ``arcs`` and ``report`` (the reader's counts for that file).
        """
        files = self.manifest()["files"]
        records = [{"sha256": digest, **entry} for digest, entry in files.items()]
        return sorted(records, key=lambda r: (str(r.get("ingested_at", "")), str(r["name"])))

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        text = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False)

        def write(tmp: Path) -> None:
            tmp.write_text(text, encoding="utf-8")

        atomic_write(self.manifest_path, write)

    # -- reading --------------------------------------------------------------------------------
    def _read_partition(self, path: Path) -> pd.DataFrame:
        try:
            frame: pd.DataFrame = pq.read_table(path).to_pandas()
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(
                f"{path}: unreadable partition ({exc}); delete it and ingest the files of "
                f"{self.raw_dir} again"
            ) from exc
        return frame

    def read(
        self,
        arcs: Iterable[int] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
    ) -> pd.DataFrame:
        """Read the panel, optionally restricted to arcs and a time window.

        Parameters
        ----------
        arcs : iterable of int, optional
            Keep only these arcs.
        start, end : str, datetime or Timestamp, optional
            Keep rows with ``start <= time < end``. Naive values are Europe/Paris wall-clock
            time (the earlier instant when ambiguous); aware values are converted to UTC.

        Returns
        -------
        pandas.DataFrame
            A canonical panel sorted by ``(arc_id, time)`` (empty when nothing matches).

        Raises
        ------
        StoreError
            When a partition cannot be read.
        """
        lo, hi = to_utc_bound(start), to_utc_bound(end)
        files = self.partitions()
        if lo is not None:
            first = lo.year * 100 + lo.month
            files = [p for p in files if _file_month(p) >= first]
        if hi is not None:
            last = hi.year * 100 + hi.month
            files = [p for p in files if _file_month(p) <= last]
        if not files:
            return empty_panel()
        expr: pads.Expression | None = None
        conditions: list[pads.Expression] = []
        if arcs is not None:
            conditions.append(pads.field("arc_id").isin([int(a) for a in arcs]))
        if lo is not None:
            conditions.append(pads.field("time") >= pa.scalar(lo, type=pa.timestamp("ns", "UTC")))
        if hi is not None:
            conditions.append(pads.field("time") < pa.scalar(hi, type=pa.timestamp("ns", "UTC")))
        for cond in conditions:
            expr = cond if expr is None else expr & cond
        try:
            table = pads.dataset([str(p) for p in files], format="parquet").to_table(filter=expr)
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(
                f"{self.path}: cannot read partitions ({exc}); delete the damaged file and "
                f"ingest the files of {self.raw_dir} again"
            ) from exc
        frame: pd.DataFrame = table.to_pandas()
        if frame.empty:
            return empty_panel()
        return sort_panel(frame[list(PANEL_COLUMNS)])

    def arcs(self) -> pd.DataFrame:
        """Return the arcs table merged over every ingest (empty when none was ingested).

        Returns
        -------
        pandas.DataFrame
            Columns :data:`~infotrafic.ARC_COLUMNS`, one row per arc.
        """
        path = self.path / "_arcs.parquet"
        if not path.exists():
            return pd.DataFrame({c: pd.Series(dtype="object") for c in ARC_COLUMNS}).astype(
                {"arc_id": "int64"}
            )
        return self._read_partition(path)

    def quarantine(self) -> pd.DataFrame:
        """Return every row rejected by past ingests.

        Returns
        -------
        pandas.DataFrame
            Columns ``file, line, field, reason, raw``.
        """
        qdir = self.path / "_quarantine"
        files = sorted(qdir.glob("*.parquet")) if qdir.is_dir() else []
        if not files:
            return empty_quarantine()
        frames = [self._read_partition(p) for p in files]
        return pd.concat(frames, ignore_index=True)

    def latest_time(self, arcs: Iterable[int] | None = None) -> dict[int, pd.Timestamp]:
        """Return the newest hour stored for each arc.

        Parameters
        ----------
        arcs : iterable of int, optional
            Only these arcs (arcs without any row are absent from the result).

        Returns
        -------
        dict of int to pandas.Timestamp
            ``{arc_id: newest time (UTC)}``, the starting point of an incremental sync.
        """
        wanted = None if arcs is None else {int(a) for a in arcs}
        found: dict[int, pd.Timestamp] = {}
        for path in reversed(self.partitions()):  # newest month first
            try:
                table = pq.read_table(path, columns=_KEY)
            except (OSError, pa.ArrowException) as exc:
                raise StoreError(f"{path}: unreadable partition ({exc})") from exc
            frame = table.to_pandas()
            if wanted is not None:
                frame = frame[frame["arc_id"].isin(wanted - found.keys())]
            for arc_id, newest in frame.groupby("arc_id")["time"].max().items():
                found.setdefault(int(arc_id), pd.Timestamp(newest))
            if wanted is not None and wanted <= found.keys():
                break
        return dict(sorted(found.items()))

    # -- writing --------------------------------------------------------------------------------
    def ingest(self, result_or_panel: _ResultLike | pd.DataFrame) -> IngestSummary:
        """Merge a :class:`~infotrafic.etl.ReadResult` or a panel into the store.

        Rows are merged into their UTC-month partitions with the library's dedupe policy
        (:func:`~infotrafic.etl.deduplicate`, existing rows first then the new ones). Partitions
        whose content does not change are not rewritten, so ingesting the same data twice leaves
        every file untouched. The arcs table is merged (newer non-missing attributes win) and the
        quarantined rows are stored under ``_quarantine/``.

        Parameters
        ----------
        result_or_panel : ReadResult or pandas.DataFrame
            What to ingest; a frame is validated as a panel (duplicates allowed).

        Returns
        -------
        IngestSummary
            Counts of new, updated and unchanged rows, duplicates, conflicts, quarantined rows
            and the partitions written.

        Raises
        ------
        StoreError
            When the store cannot be locked, read or written.
        DataValidationError
            When the panel breaks the canonical contract.
        """
        with self._locked():
            return self._ingest_locked(result_or_panel, {})

    def _ingest_locked(
        self, result_or_panel: _ResultLike | pd.DataFrame, by_arc: dict[int, list[int]]
    ) -> IngestSummary:
        if isinstance(result_or_panel, pd.DataFrame):
            panel, arcs, quarantine = result_or_panel, None, None
        else:
            panel = result_or_panel.panel
            arcs, quarantine = result_or_panel.arcs, result_or_panel.quarantine
        if not len(panel):
            panel = empty_panel()
        elif isinstance(result_or_panel, pd.DataFrame) or not _has_panel_dtypes(panel):
            panel = validate_panel(panel, name="ingested panel", allow_duplicates=True)
            panel = panel[list(PANEL_COLUMNS)]
        else:  # a ReadResult's panel was validated by the reader
            panel = panel[list(PANEL_COLUMNS)]
        panel, dup_in, conf_in = _deduplicate(panel, by_arc)
        summary = IngestSummary(duplicates=dup_in, conflicts=conf_in)
        if not panel.empty:
            months = month_of(panel["time"])
            for month in np.unique(months.to_numpy()):
                rows = panel[(months == month).to_numpy()]
                summary = summary + self._merge_partition(int(month), rows, by_arc)
        if arcs is not None and len(arcs):
            self._merge_arcs(arcs)
        if quarantine is not None and len(quarantine):
            summary = summary + IngestSummary(quarantined=self._store_quarantine(quarantine))
        return summary

    def _merge_partition(
        self, month: int, rows: pd.DataFrame, by_arc: dict[int, list[int]]
    ) -> IngestSummary:
        path = self._partition_path(month)
        rows = rows.reset_index(drop=True)
        if not path.exists():
            merged = sort_panel(rows)
            write_parquet(merged, path)
            return IngestSummary(
                rows_new=len(rows), partitions_written=(str(path.relative_to(self.path)),)
            )
        old = sort_panel(self._read_partition(path)[list(PANEL_COLUMNS)])
        stacked = pd.concat([old, rows], ignore_index=True)
        merged, dropped, conflicts = _deduplicate(stacked, by_arc)
        merged = sort_panel(merged[list(PANEL_COLUMNS)])

        old_keys, new_keys, merged_keys = _keys(old), _keys(rows), _keys(merged)
        in_old = np.isin(new_keys, old_keys)
        rows_new = int((~in_old).sum())
        touched = new_keys[in_old]
        before = old.iloc[np.searchsorted(old_keys, touched)].reset_index(drop=True)
        after = merged.iloc[np.searchsorted(merged_keys, touched)].reset_index(drop=True)
        same = np.ones(len(touched), dtype=bool)
        for col in PANEL_COLUMNS[2:]:
            same &= same_values(before[col], after[col])
        updated = int((~same).sum())
        summary = IngestSummary(
            rows_new=rows_new,
            rows_updated=updated,
            rows_unchanged=len(touched) - updated,
            duplicates=dropped,
            conflicts=conflicts,
        )
        if rows_new or updated:
            write_parquet(merged, path)
            summary = summary + IngestSummary(
                partitions_written=(str(path.relative_to(self.path)),)
            )
        return summary

    def ingest_arcs(self, arcs: pd.DataFrame | PathLike) -> int:
        """Merge an arcs table (or a referentiel file) into the store's ``_arcs.parquet``.

        Parameters
        ----------
        arcs : pandas.DataFrame or path-like
            An arcs table, or a file read with :func:`~infotrafic.etl.read_arcs` (e.g. the
            ``referentiel-comptages-routiers`` export).

        Returns
        -------
        int
            The number of arcs in the store's table afterwards.

        Raises
        ------
        StoreError
            When the store cannot be locked or written.
        """
        if not isinstance(arcs, pd.DataFrame):
            from infotrafic.etl._read import read_arcs

            arcs = read_arcs(arcs)
        with self._locked():
            if len(arcs):
                self._merge_arcs(arcs)
        return len(self.arcs())

    def _merge_arcs(self, arcs: pd.DataFrame) -> None:
        path = self.path / "_arcs.parquet"
        new = arcs.drop_duplicates("arc_id", keep="last").set_index("arc_id")
        if path.exists():
            old = self._read_partition(path).set_index("arc_id")
            merged = new.combine_first(old) if len(old) else new
            merged = merged[[c for c in new.columns if c in merged.columns]]
            if merged.reset_index().equals(old.reset_index()):
                return
        else:
            merged = new
        out = merged.reset_index().sort_values("arc_id", kind="stable").reset_index(drop=True)
        write_parquet(out, path)

    def _store_quarantine(self, quarantine: pd.DataFrame) -> int:
        frame = quarantine.copy()
        for col in QUARANTINE_COLUMNS:
            if col not in frame.columns:
                frame[col] = None
        frame = frame[list(QUARANTINE_COLUMNS)]
        frame["line"] = pd.to_numeric(frame["line"], errors="coerce").astype("Int64")
        for col in ("file", "field", "reason", "raw"):
            frame[col] = frame[col].map(lambda v: None if v is None or v is pd.NA else str(v))
        frame = frame.astype(dict.fromkeys(("file", "field", "reason", "raw"), "string"))
        digest = hashlib.sha256(
            pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
        ).hexdigest()[:16]
        path = self.path / "_quarantine" / f"{digest}.parquet"
        if path.exists():  # the same rejected rows were already stored
            return len(frame)
        write_parquet(frame.reset_index(drop=True), path)
        return len(frame)

    def ingest_files(
        self,
        paths: Iterable[PathLike],
        *,
        progress: bool = False,
        batch_rows: int = 2_000_000,
        keep_raw: bool = True,
    ) -> IngestSummary:
        """Read files with :func:`~infotrafic.etl.read_file` and ingest them.

        Files whose content hash is already in the manifest are skipped. Each new source file is
        copied into :attr:`raw_dir` (unless ``keep_raw=False``) and recorded in the manifest with
        its read counts once its rows are in the store. Files are merged in batches of about
        ``batch_rows`` rows to bound memory.

        Parameters
        ----------
        paths : iterable of path-like
            Files or directories (walked recursively, see :func:`expand_paths`).
        progress : bool, default False
            Show a tqdm progress bar over files.
        batch_rows : int, default 2_000_000
            Merge into the store whenever this many rows have been read.
        keep_raw : bool, default True
            Copy each ingested file into the raw area.

        Returns
        -------
        IngestSummary
            The combined summary of all batches.

        Raises
        ------
        StoreError
            When the store cannot be locked, read or written.
        ConfigurationError
            When a directory holds no data file.
        IngestError
            After ingesting the other files, when some loaded nothing: unreadable, truncated or
            of no known regime, or without a single usable row (such a file is not recorded as
            ingested). ``errors`` names each file and its problem, ``result`` holds the summary.
        """
        from tqdm.auto import tqdm

        from infotrafic.etl import read_file

        files = expand_paths(paths, empty_ok=False)
        known = set(self.manifest()["files"])
        total = IngestSummary()
        errors: list[str] = []
        pending: list[tuple[Path, str, Any]] = []
        pending_rows = 0
        bar = tqdm(files, desc="ingest", unit="file", disable=not progress)
        for path in bar:
            try:
                digest = file_sha256(path)
                if digest in known or any(d == digest for _, d, _ in pending):
                    total = total + IngestSummary(files_skipped=1)
                    continue
                result = read_file(path)
            except OSError as exc:
                errors.append(f"{path}: cannot read the file ({exc.strerror or exc})")
                continue
            except FileFormatError as exc:
                errors.append(str(exc))
                continue
            if not len(result.panel):
                errors.append(_nothing_loaded(path, result))
                continue
            pending.append((path, digest, result))
            pending_rows += len(result.panel)
            if pending_rows >= batch_rows:
                total = total + self._ingest_batch(pending, keep_raw=keep_raw)
                pending, pending_rows = [], 0
        if pending:
            total = total + self._ingest_batch(pending, keep_raw=keep_raw)
        if errors:
            total = total + IngestSummary(files_failed=len(errors))
            loaded = "none was ingested" if not total.files_ingested else "the others were"
            raise IngestError(
                f"{len(errors)} of {len(files)} file(s) loaded nothing ({loaded}): {errors[0]}"
                + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
                errors=errors,
                result=total,
            )
        return total

    def _ingest_batch(
        self, batch: Sequence[tuple[Path, str, Any]], *, keep_raw: bool
    ) -> IngestSummary:
        with self._locked():
            manifest = self.manifest()
            todo = [item for item in batch if item[1] not in manifest["files"]]
            skipped = IngestSummary(files_skipped=len(batch) - len(todo))
            if not todo:
                return skipped
            combined = _CombinedResult(
                panel=pd.concat([r.panel for _, _, r in todo], ignore_index=True),
                arcs=pd.concat([r.arcs for _, _, r in todo if len(r.arcs)], ignore_index=True)
                if any(len(r.arcs) for _, _, r in todo)
                else pd.DataFrame(columns=list(ARC_COLUMNS)),
                quarantine=pd.concat(
                    [r.quarantine for _, _, r in todo if len(r.quarantine)], ignore_index=True
                )
                if any(len(r.quarantine) for _, _, r in todo)
                else empty_quarantine(),
            )
            by_arc: dict[int, list[int]] = {}
            summary = self._ingest_locked(combined, by_arc)
            now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
            for path, digest, result in todo:
                raw = self._keep_raw(path, digest) if keep_raw else None
                manifest["files"][digest] = {
                    "name": path.name,
                    "source": str(path),
                    "size": path.stat().st_size,
                    "raw": raw,
                    "ingested_at": now,
                    "rows": len(result.panel),
                    "arcs": sorted(int(a) for a in result.panel["arc_id"].unique()),
                    "quarantined": len(result.quarantine),
                    "report": _report_counts(result),
                }
            _record_merge(manifest, summary, by_arc)
            self._write_manifest(manifest)
            read = IngestSummary(
                files_ingested=len(todo),
                duplicates=sum(_report_int(r, "duplicates") for _, _, r in todo),
                conflicts=sum(_report_int(r, "conflicts") for _, _, r in todo),
            )
            return skipped + summary + read

    def _keep_raw(self, path: Path, digest: str) -> str:
        self.raw_dir.mkdir(parents=True, exist_ok=True)
        target = self.raw_dir / path.name
        if target.exists() and file_sha256(target) != digest:
            target = self.raw_dir / f"{digest[:12]}_{path.name}"
        if not target.exists():

            def copy(tmp: Path) -> None:
                shutil.copyfile(path, tmp)

            atomic_write(target, copy)
        return str(target.relative_to(self.path))


@dataclass(frozen=True)
class _CombinedResult:
    panel: pd.DataFrame
    arcs: pd.DataFrame
    quarantine: pd.DataFrame


def _nothing_loaded(path: Path, result: Any) -> str:
    """One line naming a file that loaded no row, with the reasons its rows were rejected."""
    report = result.report
    if not report.rows_read:
        return f"{path}: no data row (only a header, or empty); nothing to load"
    reasons = ", ".join(f"{r}: {n}" for r, n in sorted(report.quarantined.items()))
    first = ""
    if len(result.quarantine):
        row = result.quarantine.iloc[0]
        value = f" = {str(row['raw'])[:60]!r}" if str(row["raw"] or "") else ""
        first = f"; first rejected: line {row['line']}, {row['field']}{value} ({row['reason']})"
    return (
        f"{path}: no row could be loaded ({report.rows_read} read, {report.n_quarantined} "
        f"rejected{' - ' + reasons if reasons else ''}{first}); fix the file or leave it out, "
        "it is not recorded as ingested"
    )


def _record_merge(
    manifest: dict[str, Any], summary: IngestSummary, by_arc: dict[int, list[int]]
) -> None:
    """Add the duplicates resolved by the store's merges to the manifest (total and per arc)."""
    merge = manifest.setdefault("merge", {"duplicates": 0, "conflicts": 0, "by_arc": {}})
    merge["duplicates"] += summary.duplicates
    merge["conflicts"] += summary.conflicts
    per_arc = merge.setdefault("by_arc", {})
    for arc, (dups, conflicts) in by_arc.items():
        entry = per_arc.setdefault(str(arc), [0, 0])
        entry[0] += dups
        entry[1] += conflicts


def _has_panel_dtypes(panel: pd.DataFrame) -> bool:
    return all(c in panel.columns and str(panel[c].dtype) == PANEL_DTYPES[c] for c in PANEL_COLUMNS)


def _report_int(result: Any, name: str) -> int:
    return int(getattr(getattr(result, "report", None), name, 0) or 0)


def _file_month(path: Path) -> int:
    stem = path.stem  # "YYYY-MM"
    return int(stem[:4]) * 100 + int(stem[5:7])


def _report_counts(result: Any) -> dict[str, Any]:
    """JSON-safe counts of the reader's report of one file, for the manifest."""
    report: Any = getattr(result, "report", None)
    files: Any = getattr(report, "files", ())
    if len(files) == 1 and hasattr(files[0], "to_dict"):
        data: Any = files[0].to_dict()
    elif hasattr(report, "to_json"):
        data = json.loads(report.to_json())
    else:
        return {}
    return dict(json.loads(json.dumps(data, default=str)))
