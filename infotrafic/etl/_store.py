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
        _staging/                what a running writer staged, before its commit
        _lock                    taken by every writer

Writers hold ``_lock`` and change nothing in place: every new file is staged under
``_staging/<id>/`` and the whole set is committed at the end (a journal, then one
:func:`os.replace` per file, see :mod:`infotrafic.etl._txn`). A writer that fails or is killed
before its journal leaves the store as it was; one killed after it has its commit finished by
the next writer. Partitions are sorted by ``(arc_id, time)`` and cut into small row groups, so
:meth:`ParquetStore.read` skips the row groups of other arcs by their statistics.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from infotrafic._schema import (
    ARC_COLUMNS,
    PANEL_COLUMNS,
    empty_panel,
)
from infotrafic._types import PathLike, TimeLike
from infotrafic.etl._dedupe import dedupe_by_arc, panel_keys
from infotrafic.etl._normalize import typed_quarantine
from infotrafic.etl._store_util import (
    IngestSummary,
    empty_quarantine,
    expand_paths,
    file_sha256,
    parquet_writer,
    remove_stale_temps,
    same_values,
    sort_panel,
    to_utc_bound,
)
from infotrafic.etl._txn import Transaction, recover
from infotrafic.exceptions import ConfigurationError, StoreError

if TYPE_CHECKING:
    from infotrafic.etl._ingest import ResultLike

__all__ = ["IngestSummary", "ParquetStore", "expand_paths"]

_MANIFEST_VERSION = 1
_KEY = ["arc_id", "time"]


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
        self._txn: Transaction | None = None

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
            recover(self.path)  # finish a decided commit, drop what was only staged
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Transaction]:
        """Hold the lock and stage every write; commit at the end, or leave the store as it was."""
        with self._locked():
            txn = Transaction(self.path)
            self._txn = txn
            try:
                yield txn
                txn.commit()
            finally:
                self._txn = None
                txn.abort()

    def _stage(self, path: Path, write: Callable[[Path], object]) -> None:
        if self._txn is None:  # pragma: no cover - every writer opens a transaction
            raise StoreError(f"{self.path}: internal error, a write outside a transaction")
        self._txn.stage(path, write)

    def _current(self, path: Path) -> Path:
        return path if self._txn is None else self._txn.current(path)

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
        path = self._current(self.manifest_path)
        if not path.exists():
            return {"version": _MANIFEST_VERSION, "files": {}}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
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

        self._stage(self.manifest_path, write)

    # -- reading --------------------------------------------------------------------------------
    def _read_partition(self, path: Path, columns: list[str] | None = None) -> pd.DataFrame:
        try:
            frame: pd.DataFrame = pq.read_table(path, columns=columns).to_pandas()
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
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Read the panel, optionally restricted to arcs, a time window and some columns.

        Only what is needed is read: the month partitions that overlap ``[start, end)``, and in
        them the row groups whose ``arc_id`` statistics can hold a wanted arc (partitions are
        sorted by ``(arc_id, time)`` and cut into row groups of
        :data:`~infotrafic.etl._store_util.ROW_GROUP_ROWS` rows), and only the columns asked for.

        Parameters
        ----------
        arcs : iterable of int, optional
            Keep only these arcs.
        start, end : str, datetime or Timestamp, optional
            Keep rows with ``start <= time < end``. Naive values are Europe/Paris wall-clock
            time (the earlier instant when ambiguous); aware values are converted to UTC.
        columns : sequence of str, optional
            Panel columns to return besides ``arc_id`` and ``time`` (always returned), e.g.
            ``["flow"]``; all of :data:`~infotrafic.PANEL_COLUMNS` by default.

        Returns
        -------
        pandas.DataFrame
            A canonical panel (or the asked columns of one) sorted by ``(arc_id, time)``; empty
            when nothing matches.

        Raises
        ------
        StoreError
            When a partition cannot be read.
        ConfigurationError
            When ``columns`` names a column the panel does not have.

        Examples
        --------
        >>> import tempfile
        >>> import pandas as pd
        >>> store = ParquetStore(tempfile.mkdtemp())
        >>> _ = store.ingest(pd.DataFrame({
        ...     "arc_id": [1, 1, 2], "flow": [10.0, 11.0, 20.0],
        ...     "time": pd.to_datetime(["2023-01-31 23:00", "2023-02-01 00:00",
        ...                             "2023-02-01 00:00"], utc=True)}))
        >>> store.read(arcs=[1], start="2023-02-01 01:00", columns=["flow"])
           arc_id                      time  flow
        0       1 2023-02-01 00:00:00+00:00  11.0
        """
        wanted = _read_columns(columns)
        lo, hi = to_utc_bound(start), to_utc_bound(end)
        files = self.partitions()
        if lo is not None:
            first = lo.year * 100 + lo.month
            files = [p for p in files if _file_month(p) >= first]
        if hi is not None:
            last = hi.year * 100 + hi.month
            files = [p for p in files if _file_month(p) <= last]
        ids = None if arcs is None else sorted({int(a) for a in arcs})
        if not files or ids == []:
            return empty_panel()[wanted]
        conditions: list[pads.Expression] = []
        if ids is not None:
            # the range lets the scan skip row groups by their min/max statistics
            conditions.append(pads.field("arc_id") >= ids[0])
            conditions.append(pads.field("arc_id") <= ids[-1])
            if len(ids) > 1:
                conditions.append(pads.field("arc_id").isin(ids))
        if lo is not None:
            conditions.append(pads.field("time") >= pa.scalar(lo, type=pa.timestamp("ns", "UTC")))
        if hi is not None:
            conditions.append(pads.field("time") < pa.scalar(hi, type=pa.timestamp("ns", "UTC")))
        expr: pads.Expression | None = None
        for cond in conditions:
            expr = cond if expr is None else expr & cond
        try:
            dataset = pads.dataset([str(p) for p in files], format="parquet")
            table = dataset.to_table(columns=wanted, filter=expr)
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(
                f"{self.path}: cannot read partitions ({exc}); delete the damaged file and "
                f"ingest the files of {self.raw_dir} again"
            ) from exc
        frame: pd.DataFrame = table.to_pandas()
        if frame.empty:
            return empty_panel()[wanted]
        return sort_panel(frame[wanted])

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
            frame = self._read_partition(path, columns=_KEY)
            if wanted is not None:
                frame = frame[frame["arc_id"].isin(wanted - found.keys())]
            for arc_id, newest in frame.groupby("arc_id")["time"].max().items():
                found.setdefault(int(str(arc_id)), pd.Timestamp(newest))
            if wanted is not None and wanted <= found.keys():
                break
        return dict(sorted(found.items()))

    def arc_rows(self) -> pd.Series:
        """Return the number of rows stored for each arc, over every month.

        Only the ``arc_id`` column is read, one partition at a time (e.g. to cut the store into
        batches of whole arcs).

        Returns
        -------
        pandas.Series
            int64 row counts indexed by ``arc_id``, sorted; empty for an empty store.

        Examples
        --------
        >>> import tempfile
        >>> import pandas as pd
        >>> hours = pd.date_range("2023-01-31 22:00", periods=3, freq="h", tz="UTC")
        >>> store = ParquetStore(tempfile.mkdtemp())  # two months: January and February
        >>> _ = store.ingest(pd.concat([
        ...     pd.DataFrame({"arc_id": 7, "time": hours, "flow": 1.0}),
        ...     pd.DataFrame({"arc_id": 9, "time": hours[-1:], "flow": 2.0})]))
        >>> store.arc_rows().to_dict()
        {7: 3, 9: 1}
        """
        total = pd.Series(dtype="int64")
        for path in self.partitions():
            arc = self._read_partition(path, columns=["arc_id"])["arc_id"].to_numpy()
            ids, counts = np.unique(arc, return_counts=True)
            total = total.add(pd.Series(counts, index=ids), fill_value=0)
        return total.sort_index().astype("int64").rename_axis("arc_id")

    # -- writing --------------------------------------------------------------------------------
    def ingest(self, result_or_panel: ResultLike | pd.DataFrame) -> IngestSummary:
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
        from infotrafic.etl._ingest import ingest_result

        return ingest_result(self, result_or_panel)

    def _merge_partition(
        self, month: int, rows: pd.DataFrame, by_arc: dict[int, list[int]]
    ) -> IngestSummary:
        path = self._partition_path(month)
        rows = rows.reset_index(drop=True)
        current = self._current(path)
        if not current.exists():
            merged = sort_panel(rows)
            self._stage(path, parquet_writer(merged))
            return IngestSummary(
                rows_new=len(rows), partitions_written=(str(path.relative_to(self.path)),)
            )
        old = sort_panel(self._read_partition(current)[list(PANEL_COLUMNS)])
        stacked = pd.concat([old, rows], ignore_index=True)
        merged, dropped, conflicts = dedupe_by_arc(stacked, by_arc)
        merged = sort_panel(merged[list(PANEL_COLUMNS)])

        old_keys, new_keys, merged_keys = panel_keys(old), panel_keys(rows), panel_keys(merged)
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
            self._stage(path, parquet_writer(merged))
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
        from infotrafic.etl._ingest import ingest_arcs

        return ingest_arcs(self, arcs)

    def _merge_arcs(self, arcs: pd.DataFrame) -> None:
        path = self.path / "_arcs.parquet"
        new = arcs.drop_duplicates("arc_id", keep="last").set_index("arc_id")
        current = self._current(path)
        if current.exists():
            old = self._read_partition(current).set_index("arc_id")
            merged = new.combine_first(old) if len(old) else new
            merged = merged[[c for c in new.columns if c in merged.columns]]
            if merged.reset_index().equals(old.reset_index()):
                return
        else:
            merged = new
        out = merged.reset_index().sort_values("arc_id", kind="stable").reset_index(drop=True)
        self._stage(path, parquet_writer(out))

    def _store_quarantine(self, quarantine: pd.DataFrame) -> int:
        frame = typed_quarantine(quarantine)
        digest = hashlib.sha256(
            pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
        ).hexdigest()[:16]
        path = self.path / "_quarantine" / f"{digest}.parquet"
        if self._current(path).exists():  # the same rejected rows were already stored
            return len(frame)
        self._stage(path, parquet_writer(frame.reset_index(drop=True)))
        return len(frame)

    def ingest_files(
        self,
        paths: Iterable[PathLike],
        *,
        progress: bool = False,
        batch_rows: int = 2_000_000,
        keep_raw: bool = True,
        scheduler: Any = None,
    ) -> IngestSummary:
        """Read files and ingest them, all or nothing, with bounded memory.

        Files whose content hash is already in the manifest are skipped. Each file is streamed
        (a yearly archive ZIP member by member and chunk by chunk, see
        :func:`~infotrafic.etl._stream.stage_file`) into month panels, which are merged into the
        store in batches of about ``batch_rows`` rows, month by month. Every write is staged and
        committed at the end (:mod:`~infotrafic.etl._txn`): a run that fails or is killed
        leaves the store as it was. Each new source file is copied into :attr:`raw_dir` (unless
        ``keep_raw=False``) and recorded in the manifest with its read counts.

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
        scheduler : str or distributed.Client, optional
            Read the files in parallel on a Dask cluster (a scheduler address, ``local:N`` or a
            client, see :func:`infotrafic._dask.dask_client`); the workers must see the store's
            folder (same machine or shared file system). The store ends up with the same bytes
            as a serial run: the workers only read, the merge runs here in file order.

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
        from infotrafic.etl._ingest import ingest_files

        return ingest_files(
            self,
            paths,
            progress=progress,
            batch_rows=batch_rows,
            keep_raw=keep_raw,
            scheduler=scheduler,
        )

    def _keep_raw(self, path: Path, digest: str) -> str:
        self.raw_dir.mkdir(parents=True, exist_ok=True)
        target = self.raw_dir / path.name
        if self._current(target).exists() and file_sha256(self._current(target)) != digest:
            target = self.raw_dir / f"{digest[:12]}_{path.name}"
        if not self._current(target).exists():

            def copy(tmp: Path) -> None:
                shutil.copyfile(path, tmp)

            self._stage(target, copy)
        return str(target.relative_to(self.path))


def _read_columns(columns: Sequence[str] | None) -> list[str]:
    """``arc_id``, ``time`` and the asked panel columns, in the panel's order."""
    if columns is None:
        return list(PANEL_COLUMNS)
    asked = [columns] if isinstance(columns, str) else list(columns)
    unknown = [c for c in asked if c not in PANEL_COLUMNS]
    if unknown:
        raise ConfigurationError(
            f"columns={unknown!r}: not panel columns; choose among {list(PANEL_COLUMNS)}"
        )
    return [c for c in PANEL_COLUMNS if c in ("arc_id", "time") or c in asked]


def _file_month(path: Path) -> int:
    return int(path.stem[:4]) * 100 + int(path.stem[5:7])  # the stem is "YYYY-MM"
