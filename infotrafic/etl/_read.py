"""Entry points: :func:`read_file`, :func:`read_files`, :func:`iter_read`, :func:`read_arcs`.

The format of a file is detected from its content, not its name, by the format registry
(:mod:`infotrafic._formats`): gzip is decompressed transparently, then a ZIP archive, Parquet,
JSON, JSON Lines, delimited text or a registered format is recognised. Formats whose chunks are
bounded (delimited text, the archive) are read through the stream stager, the others whole.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator

import pandas as pd

from infotrafic._formats import reader_for
from infotrafic._schema import PANEL_COLUMNS, empty_panel
from infotrafic._types import PathLike
from infotrafic.etl._arcs import build_arcs, merge_arcs
from infotrafic.etl._dedupe import dedupe_sorted, deduplicate
from infotrafic.etl._kinds import assemble_member, named_errors, read_members
from infotrafic.etl._normalize import empty_quarantine
from infotrafic.etl._result import ReadReport, ReadResult, log_read
from infotrafic.etl._stream import stage_file
from infotrafic.exceptions import FileFormatError

__all__ = ["detect_kind", "iter_read", "read_arcs", "read_file", "read_files"]


def detect_kind(path: PathLike) -> str:
    r"""Detect the format of a file from its content: zip, parquet, json, jsonl, csv, ...

    Parameters
    ----------
    path : str or os.PathLike
        The file (gzip-compressed or not).

    Returns
    -------
    str
        The kind of the registered format that recognises it: ``"zip"``, ``"parquet"``,
        ``"json"``, ``"jsonl"``, ``"csv"`` or one added with
        :func:`~infotrafic.etl.register_format`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> _ = p.write_text('{"iu_ac": "1"}\n{"iu_ac": "2"}\n')
    >>> detect_kind(p)
    'jsonl'
    """
    return reader_for(os.fspath(path)).kind


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
    with named_errors(real, name):
        fmt = reader_for(real)
        if fmt.streamed:
            result = stage_file(real, source_name=name).to_result()
        else:
            result = read_members(fmt, real, name)
    log_read(name, fmt.kind, len(result.panel), len(result.quarantine))
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
    with named_errors(real, name):
        fmt = reader_for(real) if os.path.isfile(real) else None
        zipped = fmt is not None and fmt.archive
        if fmt is not None and zipped:
            yield from (assemble_member(member) for member in fmt.read(real, name))
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
    with named_errors(real, real):
        fmt = reader_for(real)
        if fmt.archive or not fmt.referentiel:
            return read_file(real).arcs
        for member in fmt.read(real, real, require_time=False):
            frames.extend(f for f, _, _ in member.chunks())
    arcs_parts = []
    for raw in frames:
        ids = pd.to_numeric(raw["iu_ac"], errors="coerce")
        ok = ids.notna() & (ids % 1 == 0)
        meta = raw.loc[ok].drop(columns=["iu_ac"]).copy()
        meta.insert(0, "arc_id", ids[ok].astype("int64").to_numpy())
        arcs_parts.append(build_arcs(meta))
    return merge_arcs(arcs_parts)
