"""Entry points: :func:`read_file`, :func:`read_files`, :func:`iter_read`, :func:`read_arcs`.

The regime of a file is detected from its content, not its name: gzip is decompressed
transparently, then a ZIP archive, Parquet, JSON, JSON Lines or delimited text is recognised.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import IO

import numpy as np
import pandas as pd

from infotrafic._schema import PANEL_COLUMNS, empty_panel
from infotrafic._types import PathLike
from infotrafic.etl._arcs import build_arcs, merge_arcs
from infotrafic.etl._csv import iter_csv_chunks, open_maybe_gzip, sniff_csv
from infotrafic.etl._dedupe import dedupe_sorted, deduplicate
from infotrafic.etl._dst import resolve_ambiguous
from infotrafic.etl._json import json_to_raw
from infotrafic.etl._normalize import Chunk, empty_quarantine, normalize_chunk
from infotrafic.etl._parquet import iter_parquet_chunks
from infotrafic.etl._result import FileReport, ReadReport, ReadResult, log_read
from infotrafic.exceptions import FileFormatError

__all__ = ["detect_kind", "iter_read", "read_arcs", "read_file", "read_files"]

_HEAD = 1 << 16


def _head(path: str) -> tuple[bytes, bool]:
    """First bytes of the file (decompressed) and whether it is gzip."""
    with open(path, "rb") as fh:
        raw = fh.read(4)
    gz = raw[:2] == b"\x1f\x8b"
    with open_maybe_gzip(path) as fh:
        head = fh.read(_HEAD)
    return head, gz


@contextlib.contextmanager
def _named_errors(path: str, name: str) -> Iterator[None]:
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


def detect_kind(path: PathLike) -> str:
    r"""Detect the container of a file from its content: zip, parquet, json, jsonl or csv.

    Parameters
    ----------
    path : str or os.PathLike
        The file (gzip-compressed or not).

    Returns
    -------
    str
        One of ``"zip"``, ``"parquet"``, ``"json"``, ``"jsonl"``, ``"csv"``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> _ = p.write_text('{"iu_ac": "1"}\n{"iu_ac": "2"}\n')
    >>> detect_kind(p)
    'jsonl'
    """
    name = os.fspath(path)
    head, _ = _head(name)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:4] == b"PAR1":
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] == b"[":
        return "json"
    if text[:1] == b"{":
        first, _, rest = text.partition(b"\n")
        try:
            json.loads(first)
        except ValueError:
            return "json"
        return "jsonl" if rest.strip().startswith(b"{") else "json"
    return "csv"


def _assemble(
    chunks: Iterable[Chunk],
    name: str,
    regime: str,
    *,
    extra_quarantine: list[pd.DataFrame] | None = None,
    members: int = 1,
) -> ReadResult:
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


def _read_csv(path: str, name: str) -> ReadResult:
    from infotrafic.etl._stream import stage_file

    return stage_file(path, source_name=name).to_result()


def _read_text(path: str) -> str:
    with open_maybe_gzip(path) as fh:
        data = fh.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _read_json(path: str, name: str, *, lines: bool) -> ReadResult:
    raw, numbers, regime = json_to_raw(_read_text(path), name, lines=lines)
    return _assemble([normalize_chunk(raw, numbers, name)], name, regime)


def _parquet_source(path: str) -> str | IO[bytes]:
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if not gz:
        return path
    with open_maybe_gzip(path) as fh:
        return io.BytesIO(fh.read())


def _read_parquet(path: str, name: str) -> ReadResult:
    chunks = [
        normalize_chunk(frame, lines, name)
        for frame, lines in iter_parquet_chunks(_parquet_source(path), name)
    ]
    return _assemble(chunks, name, "parquet")


def _iter_zip(path: str, name: str) -> Iterator[ReadResult]:
    from infotrafic.etl._stream import member_layout, zip_members

    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise FileFormatError(f"not a readable ZIP archive ({exc})", file=name) from exc
    with zf:
        for member in zip_members(zf):
            label = f"{name}::{member.filename}"
            layout = member_layout(zf, member, name)
            bad: list[pd.DataFrame] = []

            def opener(m: zipfile.ZipInfo = member) -> IO[bytes]:
                return zf.open(m)

            chunks = []
            for frame, lines, skipped in iter_csv_chunks(opener, layout, label):
                if skipped:
                    bad.append(_skipped_frame(label, skipped))
                chunks.append(normalize_chunk(frame, lines, label))
            yield _assemble(chunks, label, "zip:archive", extra_quarantine=bad)


def _read_zip(path: str, name: str) -> ReadResult:
    from infotrafic.etl._stream import stage_file

    return stage_file(path, source_name=name).to_result()


def _sum_maps(maps: Iterable[object]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for m in maps:
        total.update(dict(m))  # type: ignore[call-overload]
    return dict(sorted(total.items()))


def _merge(parts: list[ReadResult]) -> ReadResult:
    """Merge results in reading order; later rows win duplicates (the dedupe policy)."""
    panels = [p.panel for p in parts if not p.panel.empty]
    if panels:
        stacked = pd.concat(panels, ignore_index=True) if len(panels) > 1 else panels[0]
        panel, stats = dedupe_sorted(stacked)
    else:
        panel, stats = empty_panel(), deduplicate(empty_panel())[1]
    quarantines = [p.quarantine for p in parts if not p.quarantine.empty]
    quarantine = pd.concat(quarantines, ignore_index=True) if quarantines else empty_quarantine()
    files = tuple(f for p in parts for f in p.report.files)
    report = ReadReport(
        files,
        merge_duplicates=stats.duplicates + sum(p.report.merge_duplicates for p in parts),
        merge_conflicts=stats.conflicts + sum(p.report.merge_conflicts for p in parts),
    )
    arcs = merge_arcs([p.arcs for p in parts])
    return ReadResult(panel[list(PANEL_COLUMNS)], arcs, quarantine, report)


def read_file(path: PathLike, *, source_name: str | None = None) -> ReadResult:
    r"""Read one file of any regime into the canonical panel, arcs table, quarantine and report.

    Detected from the content: gzip (transparent), CSV/TXT with ``;`` or ``,`` (live exports with
    French labels and offset timestamps, archive files with raw names and naive Paris times),
    JSON (v2.1 ``/records`` envelope or ``results`` list, ``/exports/json``, v1 search), JSONL,
    Parquet, and the yearly historical ZIP archive (read member by member; deflate64
    members need the ``archive`` extra, ``zipfile-deflate64``).
    See :mod:`infotrafic.etl` for the time and DST conventions and the duplicate policy.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    source_name : str, optional
        Name used for the file in the quarantine and report (default: the path as given).

    Returns
    -------
    ReadResult
        ``panel`` (canonical, validated, no duplicated ``(arc_id, time)``), ``arcs``,
        ``quarantine`` (file, line, field, reason, raw) and ``report``.

    Raises
    ------
    FileFormatError
        When the file is not a recognisable regime (the message names the file and what was
        expected, e.g. the columns found when the time column is missing).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = p.write_text("iu_ac,t_1h,q,k,etat_trafic,etat_barre\n"
    ...                        "4264,2023-02-05 01:00:00,764.0,11.3,1,3\n")
    >>> res = read_file(p)
    >>> res.panel[["arc_id", "time", "flow"]].to_dict("records")
    [{'arc_id': 4264, 'time': Timestamp('2023-02-05 00:00:00+0000', tz='UTC'), 'flow': 764.0}]
    """
    real = os.fspath(path)
    name = source_name if source_name is not None else real
    if not os.path.isfile(real):
        raise FileFormatError("no such file", file=name)
    with _named_errors(real, name):
        kind = detect_kind(real)
        if kind == "zip":
            result = _read_zip(real, name)
        elif kind == "parquet":
            result = _read_parquet(real, name)
        elif kind in ("json", "jsonl"):
            result = _read_json(real, name, lines=kind == "jsonl")
        else:
            result = _read_csv(real, name)
    log_read(name, kind, len(result.panel), len(result.quarantine))
    return result


def iter_read(path: PathLike, *, source_name: str | None = None) -> Iterator[ReadResult]:
    """Read a file piece by piece: one result per ZIP member, else one for the whole file.

    Duplicates across pieces are not removed here (merge them with the duplicate policy). To
    load a yearly archive into a store with bounded memory, use
    :meth:`~infotrafic.etl.ParquetStore.ingest_files`, which streams it chunk by chunk.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    source_name : str, optional
        Name used for the file in the quarantine and reports.

    Yields
    ------
    ReadResult
        One per piece.
    """
    real = os.fspath(path)
    name = source_name if source_name is not None else real
    with _named_errors(real, name):
        zipped = os.path.isfile(real) and detect_kind(real) == "zip"
        if zipped:
            yield from _iter_zip(real, name)
    if not zipped:
        yield read_file(real, source_name=name)


def read_files(paths: Iterable[PathLike]) -> ReadResult:
    r"""Read several files (any mix of regimes) and merge them with the duplicate policy.

    Files are read in the given order; for the same ``(arc_id, time)`` a row with a flow beats
    one without, then one with an occupancy, then the **later** file wins.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        The files.

    Returns
    -------
    ReadResult
        The merged result; ``report.files`` has one entry per file and ``report.merge_*`` the
        duplicates found across files.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for i, q in enumerate(["1.0", "2.0"]):
    ...     _ = (d / f"{i}.csv").write_text(f"iu_ac;t_1h;q\n7;2024-01-01T01:00:00+01:00;{q}\n")
    >>> res = read_files([d / "0.csv", d / "1.csv"])
    >>> res.panel["flow"].tolist(), res.report.merge_duplicates, res.report.merge_conflicts
    ([2.0], 1, 1)
    """
    parts = [read_file(p) for p in paths]
    if not parts:
        return ReadResult(empty_panel(), merge_arcs([]), empty_quarantine(), ReadReport())
    return _merge(parts)


def read_arcs(path: PathLike) -> pd.DataFrame:
    r"""Read the arc referentiel (``referentiel-comptages-routiers``) into an arcs table.

    Any file with an arc id column and arc metadata works (CSV with labels or raw names, JSON);
    panel files also work (their metadata columns are used).

    Parameters
    ----------
    path : str or os.PathLike
        The referentiel file (gzip or not).

    Returns
    -------
    pandas.DataFrame
        One row per arc, columns :data:`~infotrafic.ARC_COLUMNS`, ``arc_id`` int64.

    Raises
    ------
    FileFormatError
        When the file has no arc id column.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ref.csv"
    >>> _ = p.write_text('Identifiant arc;Libelle;geo_point_2d\n5419;PI_Champerret;'
    ...                        '"48.88,2.28"\n')
    >>> read_arcs(p)[["arc_id", "name", "lon"]].to_dict("records")
    [{'arc_id': 5419, 'name': 'PI_Champerret', 'lon': 2.28}]
    """
    real = os.fspath(path)
    if not os.path.isfile(real):
        raise FileFormatError("no such file", file=real)
    frames: list[pd.DataFrame] = []
    with _named_errors(real, real):
        kind = detect_kind(real)
        if kind in ("json", "jsonl"):
            text = _read_text(real)
            raw, _, _ = json_to_raw(text, real, lines=kind == "jsonl", require_time=False)
            frames.append(raw)
        elif kind == "csv":
            head, _ = _head(real)
            layout = sniff_csv(head, real, require_time=False)
            chunks = iter_csv_chunks(lambda: open_maybe_gzip(real), layout, real)
            frames.extend(f for f, _, _ in chunks)
        else:
            return read_file(real).arcs
    arcs_parts = []
    for raw in frames:
        ids = pd.to_numeric(raw["iu_ac"], errors="coerce")
        ok = ids.notna() & (ids % 1 == 0)
        meta = raw.loc[ok].drop(columns=["iu_ac"]).copy()
        meta.insert(0, "arc_id", ids[ok].astype("int64").to_numpy())
        arcs_parts.append(build_arcs(meta))
    return merge_arcs(arcs_parts)
