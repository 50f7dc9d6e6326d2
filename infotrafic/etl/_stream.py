"""Large files -> month pieces of canonical rows, streamed member by member, chunk by chunk.

:func:`stage_file` is what the store ingests: a yearly archive ZIP (about 27 million rows) or a
large CSV never sits whole in memory. Each chunk is normalised as it is read
(:func:`~infotrafic.etl._normalize.normalize_chunk`) and its rows are split by UTC month; the
pieces stay in memory up to ``budget_rows`` rows and go to Arrow files on disk beyond. At the end
of the file, month by month, the reader's policies are applied exactly as for a whole-file read:
the naive fall-back hour is resolved per member (:func:`~infotrafic.etl._dst.resolve_ambiguous`
only looks at the hours around it, which fall in the same UTC month), duplicates are removed per
member then across members with the one dedupe policy (duplicates never cross a month). Memory
is therefore bounded by one month of one file, whatever the file's size.

A member that cannot be decompressed or parsed (a damaged ZIP entry, a CRC error) is quarantined
as one record (reason ``damaged_member``, its error as ``raw``) and its rows are dropped; a block
of lines that no parser can read is quarantined line by line (``damaged_chunk``); the rest loads.
A member compressed with deflate64 without the optional package stops the file with an error
naming the ``archive`` extra.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

from infotrafic._parallel import address_space_limit
from infotrafic._schema import PANEL_COLUMNS, empty_panel
from infotrafic._types import PathLike
from infotrafic.etl._arcs import build_arcs, empty_arcs, merge_arcs
from infotrafic.etl._csv import (
    CHUNK_ROWS,
    CsvLayout,
    iter_csv_chunks,
    open_maybe_gzip,
    sniff_csv,
)
from infotrafic.etl._dedupe import dedupe_sorted
from infotrafic.etl._dst import resolve_ambiguous
from infotrafic.etl._normalize import Chunk, empty_quarantine, normalize_chunk
from infotrafic.etl._result import FileReport, ReadReport, ReadResult
from infotrafic.exceptions import FileFormatError

__all__ = ["StagedFile", "month_keys", "stage_file"]

_HEAD = 1 << 16
#: ``ZipInfo.compress_type`` of deflate64 ("enhanced deflate"), which :mod:`zipfile` cannot read.
DEFLATE64 = 9
#: Rows of month pieces a file keeps in memory before writing them to its work folder.
BUDGET_ROWS = 2_000_000


def month_keys(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Return the ``YYYYMM`` integer of each UTC time (the store's partition key).

    Examples
    --------
    >>> import pandas as pd
    >>> month_keys(pd.DatetimeIndex(["2023-01-31 23:00", "2023-02-01"], tz="UTC")).tolist()
    [202301, 202302]
    """
    index = pd.DatetimeIndex(times)
    if index.tz is not None:
        index = index.tz_convert("UTC")
    ns = np.asarray(index.as_unit("ns").asi8)
    if not len(ns):
        return np.empty(0, dtype="int64")
    # a chunk spans a month or two: compare with the month starts in between (cheaper than a
    # calendar conversion of every value)
    lo, hi = ns.min(), ns.max()
    first = np.datetime64(int(lo), "ns").astype("datetime64[M]")
    last = np.datetime64(int(hi), "ns").astype("datetime64[M]")
    months = np.arange(first, last + 1)
    starts = months.astype("datetime64[ns]").astype("int64")
    numbers = months.astype("int64")
    labels = (numbers // 12 + 1970) * 100 + numbers % 12 + 1
    return np.asarray(labels[np.searchsorted(starts, ns, side="right") - 1], dtype="int64")


class _Pieces:
    """Month pieces of one file, in reading order: in memory up to a budget, then on disk."""

    def __init__(self, work: Path | None, budget_rows: int) -> None:
        self.work = work
        self.budget = budget_rows
        self.items: dict[int, list[tuple[int, pd.DataFrame | Path]]] = {}
        self.in_memory = 0
        self.total = 0
        self._count = itertools.count()

    def add(self, member: int, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        keys = month_keys(frame["time"])
        first, last = int(keys[0]), int(keys[-1])
        if first == last and bool((keys == first).all()):
            self.items.setdefault(first, []).append((member, frame))
        else:
            for month in np.unique(keys):
                rows = frame[keys == month].reset_index(drop=True)
                self.items.setdefault(int(month), []).append((member, rows))
        self.in_memory += len(frame)
        self.total += len(frame)
        if self.work is not None and self.in_memory > self.budget:
            self.spill()

    def spill(self) -> None:
        assert self.work is not None
        for month, pieces in self.items.items():
            for i, (member, piece) in enumerate(pieces):
                if isinstance(piece, pd.DataFrame):
                    pieces[i] = (member, _write_piece(piece, self.work, next(self._count), month))
        self.in_memory = 0

    def drop_member(self, member: int) -> None:
        for month in list(self.items):
            keep = []
            for m, piece in self.items[month]:
                if m != member:
                    keep.append((m, piece))
                elif isinstance(piece, Path):
                    self.total -= _piece_rows(piece)
                    piece.unlink(missing_ok=True)
                else:
                    self.in_memory -= len(piece)
                    self.total -= len(piece)
            if keep:
                self.items[month] = keep
            else:
                del self.items[month]

    def take(self, month: int) -> list[tuple[int, pd.DataFrame]]:
        """Return (and forget) the pieces of ``month``, loaded, in reading order."""
        out = []
        for member, piece in self.items.pop(month, []):
            if isinstance(piece, Path):
                out.append((member, read_piece(piece)))
                piece.unlink(missing_ok=True)
            else:
                self.in_memory -= len(piece)
                out.append((member, piece))
        return out


def _write_piece(frame: pd.DataFrame, work: Path, n: int, month: int, prefix: str = "p") -> Path:
    path = work / f"{prefix}{month}_{n:06d}.arrow"
    table = pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)
    feather.write_feather(table, path, compression="uncompressed")
    return path


def _piece_rows(path: Path) -> int:
    return int(feather.read_table(path, columns=["arc_id"], memory_map=False).num_rows)


def read_piece(path: Path) -> pd.DataFrame:
    """Read a month piece written by a staging step."""
    frame: pd.DataFrame = feather.read_table(path, memory_map=False).to_pandas()
    return frame


@dataclass
class StagedFile:
    """One source file read into deduplicated month panels, ready to merge into a store.

    Attributes
    ----------
    name : str
        The file as reported.
    report_file : FileReport or None
        The reader's counts (the same as :func:`~infotrafic.etl.read_file` gives); None until
        every month of a lazily staged file was taken.
    arcs : pandas.DataFrame
        The arcs table of the file.
    quarantine : pandas.DataFrame
        Its rejected rows.
    rows_staged : int
        Canonical rows before the month policies (DST pairs, duplicates): what batches count.
    months : dict
        ``{YYYYMM: panel}``, each panel sorted by ``(arc_id, time)``, in memory, as an Arrow
        file path, or None until :meth:`month` finishes it (lazy staging).
    arc_ids : list of int
        The arcs with rows (complete with the report).
    """

    name: str
    report_file: FileReport | None
    arcs: pd.DataFrame
    quarantine: pd.DataFrame
    rows_staged: int = 0
    months: dict[int, pd.DataFrame | Path | None] = field(default_factory=dict)
    arc_ids: list[int] = field(default_factory=list)
    stager: _Stager | None = None
    kind: str = ""

    @property
    def report(self) -> ReadReport:
        """The counts as a one-file :class:`~infotrafic.etl.ReadReport`."""
        if self.report_file is None:
            raise RuntimeError(f"{self.name}: the counts are known once every month was taken")
        return ReadReport((self.report_file,))

    @property
    def rows(self) -> int:
        """Rows loaded (after the policies)."""
        return self.report.files[0].rows_loaded

    def settle(self) -> None:
        """Record the counts once every month is finished."""
        if self.stager is not None:
            self.report_file = self.stager.report()
            self.arc_ids = sorted(self.stager.arc_ids)
            self.stager = None
        elif self.report_file is None:  # finished eagerly
            raise RuntimeError(f"{self.name}: not staged")

    def month(self, month: int) -> pd.DataFrame:
        """Return the panel rows of ``month`` (empty panel when none).

        A lazily staged month is finished now (and can be taken once).
        """
        if month not in self.months:
            return empty_panel()
        piece = self.months[month]
        if piece is None:
            assert self.stager is not None
            panel = self.stager.finish_month(month)
            del self.months[month]
            if not self.months:
                self.settle()
            return panel
        return read_piece(piece) if isinstance(piece, Path) else piece

    def to_result(self) -> ReadResult:
        """Return the whole file as a :class:`~infotrafic.etl.ReadResult` (in memory)."""
        panels = [self.month(m) for m in sorted(self.months)]
        panels = [p for p in panels if len(p)]
        if not panels:
            panel = empty_panel()
        elif len(panels) == 1:
            panel = panels[0]
        else:
            panel = pd.concat(panels, ignore_index=True)
            arc = panel["arc_id"].to_numpy()
            time = panel["time"].array.asi8
            order = np.lexsort((time, arc))
            panel = panel.iloc[order].reset_index(drop=True)
        return ReadResult(panel[list(PANEL_COLUMNS)], self.arcs, self.quarantine, self.report)

    def discard(self) -> None:
        """Delete the Arrow files of the month panels."""
        for piece in self.months.values():
            if isinstance(piece, Path):
                piece.unlink(missing_ok=True)


@dataclass
class _Counts:
    rows_read: int = 0
    dst_empty: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    regimes: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)

    def add_chunk(self, chunk: Chunk) -> None:
        self.rows_read += chunk.rows_read
        self.dst_empty += chunk.dst_nonexistent_empty
        self.reasons.update(chunk.reasons)
        self.regimes.update(chunk.time_regimes)
        self.unknown.update(chunk.unknown_codes)

    def add_rejects(self, frame: pd.DataFrame) -> None:
        self.reasons.update(Counter(frame["reason"].tolist()))
        self.rows_read += len(frame)


class _Stager:
    """Accumulates one file's chunks, member by member."""

    def __init__(self, name: str, work: Path | None, budget_rows: int, chunk_rows: int) -> None:
        self.name = name
        self.chunk_rows = chunk_rows
        self.pieces = _Pieces(work, budget_rows)
        self.counts = _Counts()
        self.quarantine: list[pd.DataFrame] = []
        self.metas: list[pd.DataFrame] = []
        self.members = 0
        self.regime, self.zipped = "", False
        self.tally = dict.fromkeys(("rows_loaded", "dst_ambiguous", "duplicates", "conflicts"), 0)
        self.arc_ids: set[int] = set()

    def begin(self) -> int:
        """Return the number of the next member."""
        self.members += 1
        return self.members - 1

    def member(
        self, member: int, label: str, opener: Callable[[], IO[bytes]], layout: CsvLayout
    ) -> None:
        """Stream one member (or a whole CSV) into the pieces; raises what reading raises."""
        bad: list[pd.DataFrame] = []
        quarantines: list[pd.DataFrame] = []
        metas: list[pd.DataFrame] = []
        counts = _Counts()
        for frame, lines, skipped in iter_csv_chunks(
            opener, layout, label, damaged=bad, last_meta=True
        ):
            if skipped:
                bad.append(_skipped_frame(label, skipped))
            chunk = normalize_chunk(frame, lines, label)
            del frame
            counts.add_chunk(chunk)
            if not chunk.quarantine.empty:
                quarantines.append(chunk.quarantine)
            if not chunk.meta.empty:
                metas.append(chunk.meta)
            self.pieces.add(member, chunk.panel)
        for extra in bad:
            counts.add_rejects(extra)
        self._merge_counts(counts)
        self.quarantine.extend([*bad, *quarantines])
        meta = pd.concat(metas, ignore_index=True) if metas else pd.DataFrame({"arc_id": []})
        if meta["arc_id"].dtype != "int64":
            meta = meta.astype({"arc_id": "int64"})
        self.metas.append(_last_meta(meta))

    def damaged(self, member: int, label: str, exc: BaseException) -> None:
        """Quarantine a member as one record and drop its rows."""
        self.pieces.drop_member(member)
        text = str(exc).replace("\n", " ")
        frame = pd.DataFrame(
            {
                "file": [label],
                "line": pd.array([None], dtype="Int64"),
                "field": [""],
                "reason": ["damaged_member"],
                "raw": [text[:300]],
            }
        )
        counts = _Counts()
        counts.add_rejects(frame)
        self._merge_counts(counts)
        self.quarantine.append(frame)

    def _merge_counts(self, counts: _Counts) -> None:
        total = self.counts
        total.rows_read += counts.rows_read
        total.dst_empty += counts.dst_empty
        total.reasons.update(counts.reasons)
        total.regimes.update(counts.regimes)
        total.unknown.update(counts.unknown)

    def finish_month(self, month: int) -> pd.DataFrame:
        """Resolve the fall-back hour and remove duplicates in one month; count them."""
        tally = self.tally
        by_member: list[pd.DataFrame] = []
        pieces = self.pieces.take(month)
        for member, group in itertools.groupby(pieces, key=lambda mp: mp[0]):
            del member
            frames = [f for _, f in group]
            rows = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
            del frames
            amb = int(rows["_amb"].sum())
            if amb > 1:  # else nothing to resolve (and no copy to make)
                rows = resolve_ambiguous(rows)[0]
            panel, stats = dedupe_sorted(rows)
            del rows
            tally["dst_ambiguous"] += amb
            tally["duplicates"] += stats.duplicates
            tally["conflicts"] += stats.conflicts
            by_member.append(panel)
        del pieces
        if len(by_member) > 1:
            panel, stats = dedupe_sorted(pd.concat(by_member, ignore_index=True))
            tally["duplicates"] += stats.duplicates
            tally["conflicts"] += stats.conflicts
        else:
            panel = by_member[0]
        tally["rows_loaded"] += len(panel)
        self.arc_ids.update(int(a) for a in pd.unique(panel["arc_id"]))
        return panel

    def report(self) -> FileReport:
        """Return the counts of the file (complete once every month was finished)."""
        return FileReport(
            file=self.name,
            regime=self.regime,
            rows_read=self.counts.rows_read,
            rows_loaded=self.tally["rows_loaded"],
            quarantined=dict(sorted(self.counts.reasons.items())),
            dst_nonexistent_empty=self.counts.dst_empty,
            dst_ambiguous=self.tally["dst_ambiguous"],
            duplicates=self.tally["duplicates"],
            conflicts=self.tally["conflicts"],
            time_regimes=dict(sorted(self.counts.regimes.items())),
            unknown_codes=dict(sorted(self.counts.unknown.items())),
            members=self.members if self.zipped else 1,
        )

    def finish(self, regime: str, *, out: Path | None, zipped: bool, lazy: bool) -> StagedFile:
        """Return the staged file: months finished now (to ``out`` when large) or on demand."""
        self.regime, self.zipped = regime, zipped
        arcs = _build_arcs(self.metas)
        frames = [q for q in self.quarantine if len(q)]
        quarantine = pd.concat(frames, ignore_index=True) if frames else empty_quarantine()
        staged = StagedFile(self.name, None, arcs, quarantine, rows_staged=self.pieces.total)
        months = sorted(self.pieces.items)
        if lazy and months:
            staged.months = dict.fromkeys(months)
            staged.stager = self
            return staged
        for month in months:
            panel = self.finish_month(month)
            if out is not None and len(panel) > self.pieces.budget // 4:
                staged.months[month] = _write_piece(panel, out, 0, month, prefix="m")
            else:
                staged.months[month] = panel
        staged.stager = self
        staged.settle()
        return staged


def _last_meta(meta: pd.DataFrame) -> pd.DataFrame:
    """Raw metadata of one member reduced to one row per arc, as :func:`build_arcs` reduces it."""
    if meta.empty or pd.Index(meta["arc_id"]).is_unique:
        return meta
    return meta.groupby("arc_id", sort=True).last().reset_index()


def _build_arcs(metas: list[pd.DataFrame]) -> pd.DataFrame:
    """Arcs table of a file: what merging each member's :func:`build_arcs` table gives.

    Each member's table is built from its raw metadata reduced per arc, then the tables are
    merged (:func:`merge_arcs`, last non-missing value wins). Identical raw rows build
    identical rows, so only the last of identical rows is built; the distinct variants of one
    arc (metadata that changed during the year) are built in reading order and merged.
    """
    frames = [m for m in metas if not m.empty]
    if not frames:
        return empty_arcs()
    if len(frames) == 1:
        return build_arcs(frames[0])
    rows = pd.concat(frames, ignore_index=True)
    text = rows.astype(str)
    rows = rows[~text.duplicated(keep="last").to_numpy()].reset_index(drop=True)
    layer = rows.groupby("arc_id", sort=False).cumcount().to_numpy()
    tables = [build_arcs(rows[layer == k].reset_index(drop=True)) for k in range(layer.max() + 1)]
    return merge_arcs(tables)


def _skipped_frame(name: str, skipped: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file": np.full(len(skipped), name, dtype=object),
            "line": np.asarray(skipped, dtype="int64"),
            "field": np.full(len(skipped), "", dtype=object),
            "reason": np.full(len(skipped), "bad_field_count", dtype=object),
            "raw": np.full(len(skipped), "", dtype=object),
        }
    )


def zip_members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Return the data members of an archive (no folders, hidden or macOS metadata files)."""
    return [
        m
        for m in zf.infolist()
        if not m.is_dir() and not Path(m.filename).name.startswith((".", "__MACOSX"))
    ]


def require_deflate64(member: zipfile.ZipInfo, name: str) -> None:
    """Make :mod:`zipfile` read deflate64 members (the optional ``zipfile-deflate64``).

    Imported only when an archive has such a member (some yearly archives of the portal do):
    importing it patches :mod:`zipfile` for the whole process.
    """
    try:
        import zipfile_deflate64  # noqa: F401 - registers deflate64 in zipfile on import
    except ImportError as exc:
        raise FileFormatError(
            f"member {member.filename!r} is compressed with deflate64, which needs the optional "
            "package zipfile-deflate64: pip install 'infotrafic[archive]' (or unpack the "
            "archive and read its files)",
            file=name,
        ) from exc


def member_layout(zf: zipfile.ZipFile, member: zipfile.ZipInfo, name: str) -> CsvLayout:
    """Sniff a member's layout; errors name the member (deflate64 without the extra: the fix)."""
    label = f"{name}::{member.filename}"
    if member.compress_type == DEFLATE64:
        require_deflate64(member, name)
    try:
        with zf.open(member) as fh:
            head = fh.read(_HEAD)
    except (NotImplementedError, zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        raise FileFormatError(
            f"cannot decompress member {member.filename!r} ({exc})", file=name
        ) from exc
    if head[:2] == b"\x1f\x8b":
        raise FileFormatError(
            f"member {member.filename!r} is gzip-compressed inside the ZIP; unpack it", file=name
        )
    return sniff_csv(head, label)


#: What reading a damaged member raises (besides :class:`FileFormatError`).
_DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError)


def _stage_zip(path: str, name: str, stager: _Stager) -> None:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise FileFormatError(f"not a readable ZIP archive ({exc})", file=name) from exc
    with zf:
        members = zip_members(zf)
        if not members:
            raise FileFormatError("ZIP archive without any member file", file=name)
        for member in members:
            if member.compress_type == DEFLATE64:
                require_deflate64(member, name)  # a missing extra stops the file: name the fix
            label = f"{name}::{member.filename}"
            number = stager.begin()
            try:
                layout = member_layout(zf, member, name)

                def opener(m: zipfile.ZipInfo = member) -> IO[bytes]:
                    return zf.open(m)

                stager.member(number, label, opener, layout)
            except (FileFormatError, *_DAMAGE) as exc:
                stager.damaged(number, label, exc)


def fit_arrow_pool() -> None:
    """Use the system allocator for pyarrow under an address-space limit (``ulimit -v``).

    pyarrow's default allocator (mimalloc or jemalloc) reserves about a gigabyte of address space
    it never touches: under ``ulimit -v`` that reservation, not the data, exhausts the limit. The
    system allocator reserves nothing ahead, so the limit then bounds what is really used. Left
    alone when there is no such limit or when ``ARROW_DEFAULT_MEMORY_POOL`` chooses a pool.
    """
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    if address_space_limit() is not None and pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())


def stage_file(
    path: PathLike,
    *,
    source_name: str | None = None,
    work: Path | None = None,
    budget_rows: int = BUDGET_ROWS,
    chunk_rows: int = CHUNK_ROWS,
    lazy: bool = False,
) -> StagedFile:
    """Read a file into deduplicated month panels with bounded memory (see the module doc).

    ZIP archives and delimited text are streamed; JSON and Parquet files (small by nature) are
    read whole with :func:`~infotrafic.etl.read_file`.

    Parameters
    ----------
    path : path-like
        The file.
    source_name : str, optional
        Name used for the file in the quarantine and reports.
    work : pathlib.Path, optional
        A folder for the pieces that exceed ``budget_rows`` (and the large month panels);
        without it everything stays in memory.
    budget_rows : int, default :data:`BUDGET_ROWS`
        Rows kept in memory before writing pieces to ``work``.
    chunk_rows : int, default 500_000
        Rows parsed at once (about).
    lazy : bool, default False
        Finish each month (DST pairs, duplicates) only when :meth:`StagedFile.month` asks for
        it, instead of now: a merge that takes the months one by one then never writes them
        to disk and reads them back. The counts are complete once every month was taken.

    Returns
    -------
    StagedFile
        The month panels, arcs, quarantine and the reader's counts.

    Raises
    ------
    FileFormatError
        When the file is unreadable or of no known regime.
    """
    fit_arrow_pool()
    from infotrafic.etl._read import _named_errors, detect_kind, read_file

    real = os.fspath(path)
    name = source_name if source_name is not None else real
    if not os.path.isfile(real):
        raise FileFormatError("no such file", file=name)
    stager = _Stager(name, work, budget_rows, chunk_rows)
    with _named_errors(real, name):
        kind = detect_kind(real)
        if kind == "zip":
            _stage_zip(real, name, stager)
            staged = stager.finish("zip:archive", out=work, zipped=True, lazy=lazy)
        elif kind == "csv":
            with open_maybe_gzip(real) as fh:
                head = fh.read(_HEAD)
            layout = sniff_csv(head, name)
            stager.member(stager.begin(), name, lambda: open_maybe_gzip(real), layout)
            staged = stager.finish(layout.regime, out=work, zipped=False, lazy=lazy)
        else:
            staged = staged_from_result(read_file(real, source_name=name))
    staged.kind = kind
    return staged


def staged_from_result(result: ReadResult) -> StagedFile:
    """Wrap an in-memory :class:`~infotrafic.etl.ReadResult` of one file as a staged file."""
    panel = result.panel
    months: dict[int, pd.DataFrame | Path | None] = {}
    if len(panel):
        keys = month_keys(panel["time"])
        for month in np.unique(keys):
            months[int(month)] = panel[keys == month].reset_index(drop=True)
    arcs = sorted(int(a) for a in pd.unique(panel["arc_id"])) if len(panel) else []
    return StagedFile(
        result.report.files[0].file if result.report.files else "",
        result.report.files[0] if result.report.files else FileReport("", "panel"),
        result.arcs,
        result.quarantine,
        rows_staged=len(panel),
        months=months,
        arc_ids=arcs,
    )


def remove_work(work: Path) -> None:
    """Delete a work folder (ignoring what is already gone)."""
    with contextlib.suppress(OSError):
        shutil.rmtree(work)
