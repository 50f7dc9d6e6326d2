"""The built-in input formats' readers, and what the read and stream entry points share.

:mod:`infotrafic._formats` declares the formats (``zip``, ``parquet``, ``json``, ``jsonl``,
``csv``, and ``gzip`` as a wrapper) with the dotted paths of the readers below. Each reader turns
a file into :class:`~infotrafic._formats.RawMember` pieces of raw chunks; the consumers --
:func:`~infotrafic.etl.read_file` (whole file, :func:`assemble`),
:func:`~infotrafic.etl._stream.stage_file` (month pieces, bounded memory) and the portal client's
export parsing -- never test a kind string.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from infotrafic._formats import HEAD_BYTES, Format, RawChunk, RawMember
from infotrafic._schema import empty_panel
from infotrafic.etl._arcs import build_arcs
from infotrafic.etl._csv import (
    CHUNK_ROWS,
    CsvLayout,
    iter_csv_chunks,
    open_maybe_gzip,
    sniff_csv,
)
from infotrafic.etl._dedupe import dedupe_sorted, deduplicate
from infotrafic.etl._dst import resolve_ambiguous
from infotrafic.etl._json import json_to_raw
from infotrafic.etl._normalize import Chunk, empty_quarantine, normalize_chunk
from infotrafic.etl._parquet import iter_parquet_chunks
from infotrafic.etl._result import FileReport, ReadReport, ReadResult
from infotrafic.exceptions import FileFormatError

__all__ = [
    "DAMAGE",
    "DEFLATE64",
    "assemble",
    "member_layout",
    "named_errors",
    "read_csv",
    "read_json",
    "read_jsonl",
    "read_members",
    "read_parquet",
    "read_zip",
    "require_deflate64",
    "skipped_frame",
    "zip_members",
]

#: ``ZipInfo.compress_type`` of deflate64 ("enhanced deflate"), which :mod:`zipfile` cannot read.
DEFLATE64 = 9
#: What reading a damaged archive member raises (besides :class:`FileFormatError`).
DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError)


@contextlib.contextmanager
def named_errors(path: str, name: str) -> Iterator[None]:
    """Turn what reading a damaged or unreadable file raises into a :class:`FileFormatError`.

    Without it a truncated gzip ends in a bare ``EOFError`` (which click even reports as a mere
    ``Aborted!``) and an unreadable file in a traceback, neither naming the file.
    """
    try:
        yield
    except FileFormatError:
        raise
    except EOFError as exc:
        what = "truncated gzip" if _is_gzip(path) else "truncated compressed data"
        raise FileFormatError(
            f"{what}: the file ends before the end of its compressed data ({exc}); copy or "
            "download it again",
            file=name,
        ) from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise FileFormatError(
            f"corrupt gzip data ({exc}); copy or download the file again", file=name
        ) from exc
    except zipfile.BadZipFile as exc:
        raise FileFormatError(
            f"corrupt ZIP data ({exc}); copy or download the file again", file=name
        ) from exc
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise FileFormatError(
            f"cannot read the file ({reason}); check that it exists and is readable", file=name
        ) from exc


def _is_gzip(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"\x1f\x8b"
    except OSError:
        return False


# -- the readers ----------------------------------------------------------------------------------
def read_csv(path: str, name: str, *, require_time: bool = True) -> list[RawMember]:
    """Read delimited text (gzip or not): one member, its layout sniffed from the header."""
    with open_maybe_gzip(path) as fh:
        head = fh.read(HEAD_BYTES)
    layout = sniff_csv(head, name, require_time=require_time)
    return [
        RawMember(name, layout.regime, _csv_chunks(lambda: open_maybe_gzip(path), layout, name))
    ]


def _csv_chunks(opener: Any, layout: CsvLayout, label: str) -> Any:
    def chunks(
        *,
        damaged: list[pd.DataFrame] | None = None,
        last_meta: bool = False,
        chunk_rows: int = CHUNK_ROWS,
    ) -> Any:
        return iter_csv_chunks(
            opener, layout, label, damaged=damaged, last_meta=last_meta, chunk_rows=chunk_rows
        )

    return chunks


def _read_text(path: str) -> str:
    with open_maybe_gzip(path) as fh:
        data = fh.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _json_member(path: str, name: str, *, lines: bool, require_time: bool) -> list[RawMember]:
    raw, numbers, regime = json_to_raw(
        _read_text(path), name, lines=lines, require_time=require_time
    )
    return [RawMember.of_frame(name, regime, raw, numbers)]


def read_json(path: str, name: str, *, require_time: bool = True) -> list[RawMember]:
    """Read a JSON document of records (every API shape, see :mod:`infotrafic.etl._json`)."""
    return _json_member(path, name, lines=False, require_time=require_time)


def read_jsonl(path: str, name: str, *, require_time: bool = True) -> list[RawMember]:
    """Read JSON Lines: one record per line."""
    return _json_member(path, name, lines=True, require_time=require_time)


def _parquet_source(path: str) -> str | IO[bytes]:
    if not _is_gzip(path):
        return path
    with open_maybe_gzip(path) as fh:
        return io.BytesIO(fh.read())


def read_parquet(path: str, name: str, *, require_time: bool = True) -> list[RawMember]:
    """Read a Parquet export, batch by batch (the time and flow columns are always required)."""

    def chunks(**_: object) -> Iterator[RawChunk]:
        for frame, lines in iter_parquet_chunks(_parquet_source(path), name):
            yield frame, lines, []

    return [RawMember(name, "parquet", chunks)]


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
            head = fh.read(HEAD_BYTES)
    except (NotImplementedError, zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        raise FileFormatError(
            f"cannot decompress member {member.filename!r} ({exc})", file=name
        ) from exc
    if head[:2] == b"\x1f\x8b":
        raise FileFormatError(
            f"member {member.filename!r} is gzip-compressed inside the ZIP; unpack it", file=name
        )
    return sniff_csv(head, label)


def read_zip(path: str, name: str, *, require_time: bool = True) -> Iterator[RawMember]:
    """Read the yearly archive: one member per delimited file, each sniffed when it is read.

    The archive stays open while the members are taken; a member's layout is sniffed by its
    ``chunks`` (so a member that cannot be decompressed fails alone). A deflate64 member without
    the optional package, or an archive without any member, stops the file.
    """
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
            yield RawMember(
                f"{name}::{member.filename}", "zip:archive", _zip_chunks(zf, member, name)
            )


def _zip_chunks(zf: zipfile.ZipFile, member: zipfile.ZipInfo, name: str) -> Any:
    label = f"{name}::{member.filename}"

    def chunks(
        *,
        damaged: list[pd.DataFrame] | None = None,
        last_meta: bool = False,
        chunk_rows: int = CHUNK_ROWS,
    ) -> Any:
        layout = member_layout(zf, member, name)

        def opener() -> IO[bytes]:
            return zf.open(member)

        return iter_csv_chunks(
            opener, layout, label, damaged=damaged, last_meta=last_meta, chunk_rows=chunk_rows
        )

    return chunks


# -- whole-file assembly --------------------------------------------------------------------------
def skipped_frame(name: str, skipped: list[int]) -> pd.DataFrame:
    """Quarantine rows of the lines skipped for having too many fields (``bad_field_count``)."""
    return pd.DataFrame(
        {
            "file": np.full(len(skipped), name, dtype=object),
            "line": np.asarray(skipped, dtype="int64"),
            "field": np.full(len(skipped), "", dtype=object),
            "reason": np.full(len(skipped), "bad_field_count", dtype=object),
            "raw": np.full(len(skipped), "", dtype=object),
        }
    )


def assemble(
    chunks: Iterable[Chunk],
    name: str,
    regime: str,
    *,
    extra_quarantine: list[pd.DataFrame] | None = None,
    members: int = 1,
) -> ReadResult:
    """Apply the reader's policies (DST pairs, duplicates) to normalised chunks of one file."""
    panels, quarantines, metas = [], list(extra_quarantine or []), []
    reasons: Counter[str] = Counter()
    regimes: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    rows_read = dst_empty = 0
    for chunk in chunks:
        panels.append(chunk.panel)
        if not chunk.quarantine.empty:
            quarantines.append(chunk.quarantine)
        if not chunk.meta.empty:
            metas.append(chunk.meta)
        reasons.update(chunk.reasons)
        regimes.update(chunk.time_regimes)
        unknown.update(chunk.unknown_codes)
        rows_read += chunk.rows_read
        dst_empty += chunk.dst_nonexistent_empty
    for extra in extra_quarantine or []:
        reasons.update(Counter(extra["reason"].tolist()))
        rows_read += len(extra)
    panels = [p for p in panels if not p.empty]
    if panels:
        merged = pd.concat(panels, ignore_index=True) if len(panels) > 1 else panels[0]
        resolved, n_amb = resolve_ambiguous(merged)
        del merged
        panel, stats = dedupe_sorted(resolved)
        del resolved
    else:
        panel, n_amb = empty_panel(), 0
        stats = deduplicate(panel)[1]
    meta = pd.concat(metas, ignore_index=True) if metas else pd.DataFrame({"arc_id": []})
    arcs = build_arcs(meta.astype({"arc_id": "int64"}))
    quarantine = pd.concat(quarantines, ignore_index=True) if quarantines else empty_quarantine()
    report = FileReport(
        file=name,
        regime=regime,
        rows_read=rows_read,
        rows_loaded=len(panel),
        quarantined=dict(sorted(reasons.items())),
        dst_nonexistent_empty=dst_empty,
        dst_ambiguous=n_amb,
        duplicates=stats.duplicates,
        conflicts=stats.conflicts,
        time_regimes=dict(sorted(regimes.items())),
        unknown_codes=dict(sorted(unknown.items())),
        members=members,
    )
    return ReadResult(panel, arcs, quarantine, ReadReport((report,)))


def assemble_member(member: RawMember) -> ReadResult:
    """Read one member whole into a :class:`~infotrafic.etl.ReadResult`."""
    bad: list[pd.DataFrame] = []
    chunks = []
    for frame, lines, skipped in member.chunks():
        if skipped:
            bad.append(skipped_frame(member.label, skipped))
        chunks.append(normalize_chunk(frame, lines, member.label))
    return assemble(chunks, member.label, member.regime, extra_quarantine=bad)


def read_members(fmt: Format, path: str, name: str) -> ReadResult:
    """Read a whole file of any format into one :class:`~infotrafic.etl.ReadResult`."""
    bad: list[pd.DataFrame] = []
    chunks: list[Chunk] = []
    regime, count = fmt.kind, 0
    for member in fmt.read(path, name):
        regime, count = member.regime, count + 1
        for frame, lines, skipped in member.chunks():
            if skipped:
                bad.append(skipped_frame(member.label, skipped))
            chunks.append(normalize_chunk(frame, lines, member.label))
    members = count if fmt.archive else 1
    return assemble(chunks, name, regime, extra_quarantine=bad, members=members)
