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
import ctypes
import functools
import itertools
import os
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

from infotrafic._formats import Format, RawMember, reader_for
from infotrafic._parallel import address_space_limit
from infotrafic._schema import PANEL_COLUMNS, empty_panel
from infotrafic._types import PathLike
from infotrafic.etl._arcs import build_arcs, empty_arcs, merge_arcs
from infotrafic.etl._csv import CHUNK_ROWS
from infotrafic.etl._dedupe import dedupe_sorted, strictly_ordered
from infotrafic.etl._dst import resolve_ambiguous
from infotrafic.etl._kinds import DAMAGE, named_errors, read_members, skipped_frame
from infotrafic.etl._normalize import Chunk, empty_quarantine, normalize_chunk
from infotrafic.etl._result import FileReport, ReadReport, ReadResult, log_read
from infotrafic.exceptions import FileFormatError

__all__ = ["StagedFile", "month_keys", "stage_file"]

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
    # one block per column: no consolidation copy (the columns are used one by one)
    frame: pd.DataFrame = feather.read_table(path, memory_map=False).to_pandas(split_blocks=True)
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

    def member(self, member: int, raw: RawMember) -> None:
        """Stream one member (or a whole CSV) into the pieces; raises what reading raises."""
        label = raw.label
        bad: list[pd.DataFrame] = []
        quarantines: list[pd.DataFrame] = []
        metas: list[pd.DataFrame] = []
        counts = _Counts()
        chunks = raw.chunks(damaged=bad, last_meta=True, chunk_rows=self.chunk_rows)
        for frame, lines, skipped in chunks:
            if skipped:
                bad.append(skipped_frame(label, skipped))
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
        groups = [[f for _, f in g] for _, g in itertools.groupby(pieces, key=lambda mp: mp[0])]
        del pieces
        several = len(groups) > 1  # members, merged below
        while groups:
            frames = groups.pop(0)
            rows = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
            del frames
            amb = int(rows["_amb"].sum())
            tally["dst_ambiguous"] += amb
            if amb > 1:  # else nothing to resolve (and no copy to make)
                rows = resolve_ambiguous(rows)[0]
            elif several and strictly_ordered(rows):
                # one row per key in this member: nothing to drop; the merge below sorts
                del rows["_amb"]
                by_member.append(rows)
                continue
            panel, stats = dedupe_sorted(rows, copy=False)  # the pieces are ours: no copy
            del rows
            tally["duplicates"] += stats.duplicates
            tally["conflicts"] += stats.conflicts
            by_member.append(panel)
        if len(by_member) > 1:
            panel, stats = dedupe_sorted(pd.concat(by_member, ignore_index=True), copy=False)
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


#: glibc ``mallopt`` parameters (``malloc.h``) and the values :func:`keep_large_buffers` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD, _TRIM_THRESHOLD = 64 << 20, 256 << 20  # above a block of lines (~48 MB)


@functools.cache
def keep_large_buffers() -> bool:
    """Let glibc's malloc reuse freed chunk-sized buffers instead of unmapping them.

    Streaming allocates and frees buffers of tens of megabytes per chunk (decompressed text,
    blocks of lines, columns). By default glibc serves each from a fresh ``mmap`` and unmaps it
    when freed, so every chunk pays page faults on memory it had a moment ago: measured on the
    full-size archive benchmark, about 12 % of the ETL's CPU time. Serving them from the heap
    and keeping up to :data:`_TRIM_THRESHOLD` of free heap removes that cost. Process-wide and
    once; returns False (and does nothing) where the C library has no ``mallopt``.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )


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
    keep_large_buffers()
    real = os.fspath(path)
    name = source_name if source_name is not None else real
    if not os.path.isfile(real):
        raise FileFormatError("no such file", file=name)
    stager = _Stager(name, work, budget_rows, chunk_rows)
    with named_errors(real, name):
        fmt = reader_for(real)
        if fmt.streamed:
            regime = _stage_members(fmt, real, name, stager)
            staged = stager.finish(regime, out=work, zipped=fmt.archive, lazy=lazy)
        else:
            result = read_members(fmt, real, name)
            log_read(name, fmt.kind, len(result.panel), len(result.quarantine))
            staged = staged_from_result(result)
    staged.kind = fmt.kind
    return staged


def _stage_members(fmt: Format, path: str, name: str, stager: _Stager) -> str:
    """Stream every member of a file into the stager; return the regime.

    In an archive, a member that cannot be decompressed or parsed is quarantined as one record
    and the others load; elsewhere what reading raises stops the file.
    """
    regime = fmt.kind
    for raw in fmt.read(path, name):
        regime = raw.regime
        number = stager.begin()
        if not fmt.archive:
            stager.member(number, raw)
            continue
        try:
            stager.member(number, raw)
        except (FileFormatError, *DAMAGE) as exc:
            stager.damaged(number, raw.label, exc)
    return regime


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
