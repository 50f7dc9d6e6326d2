"""Is a downloaded slice complete and well formed? What decides that a slice is done.

Every slice file is read strictly (:func:`~infotrafic.opendata.parse_export` with
``strict=True``: NUL bytes, field counts, quoting, values). Then its completeness is proven one
of two ways:

``count``
    The portal counted the slice's records (``/records`` with ``limit=1``): a closed slice must
    hold exactly that many rows, an open one (ending in the future) at least that many.
``hours``
    Without a count (``/records`` unavailable), the export, asked in ``t_1h`` order, must come in
    that order and every arc in it must reach the slice's last hour. A body cut short only loses
    its end, so an end that reaches the last hour for every arc proves that nothing was cut.

A slice proven neither way is *unverified*: its well-formed rows are kept, but it is not recorded
as done, and the run ends with :class:`~infotrafic.exceptions.IncompleteFetchError`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd

from infotrafic.opendata._parse import ParsedSlice
from infotrafic.opendata._query import Slice

__all__ = ["check_slice", "last_hour", "tail_problem", "whole_zip"]


def last_hour(sl: Slice) -> pd.Timestamp:
    """Return the last ``t_1h`` a slice can hold (``end`` is exclusive)."""
    return (sl.end - pd.Timedelta(1, "ns")).floor("h")


def check_slice(parsed: ParsedSlice, sl: Slice, expected: int | None, path: Path) -> ParsedSlice:
    """Verify a parsed slice: row count, no cut last line; quarantine rows outside the query.

    Parameters
    ----------
    parsed : ParsedSlice
        The strictly parsed file.
    sl : Slice
        What was asked.
    expected : int or None
        The portal's count of the slice, when it gave one.
    path : pathlib.Path
        The file, for messages.

    Returns
    -------
    ParsedSlice
        ``parsed`` without the rows outside the query (moved to its quarantine).

    Raises
    ------
    ValueError
        The row count differs from the portal's, or the last line is cut: the body is broken.
    """
    if expected is not None:
        final = sl.end <= pd.Timestamp.now(tz="UTC")
        short = parsed.rows < expected if not final else parsed.rows != expected
        if short:
            raise ValueError(f"{path.name}: {parsed.rows} rows, the portal counted {expected}")
    if len(parsed.quarantine) and path.suffix in (".csv", ".jsonl"):
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - 1))
            if fh.read(1) != b"\n":
                raise ValueError(f"{path.name}: last line cut short")
    panel = parsed.panel
    inside = (panel["time"] >= sl.start) & (panel["time"] < sl.end)
    if sl.arcs is not None:
        inside &= panel["arc_id"].isin(list(sl.arcs))
    if inside.all():
        return parsed
    outside = panel[~inside]
    extra = pd.DataFrame(
        {
            "file": path.name,
            "line": pd.NA,
            "field": "iu_ac/t_1h",
            "reason": "outside the query (arc or time not asked for)",
            "raw": outside["arc_id"].astype(str) + ";" + outside["time"].astype(str),
        }
    )
    return ParsedSlice(
        panel[inside].reset_index(drop=True),
        parsed.rows,
        pd.concat([parsed.quarantine, extra], ignore_index=True),
        parsed.duplicates,
        ordered=parsed.ordered,
    )


def tail_problem(parsed: ParsedSlice, sl: Slice) -> str | None:
    """Tell why a slice without a count cannot be shown complete by its hours (``None``: it can).

    Parameters
    ----------
    parsed : ParsedSlice
        The checked slice (export asked in ``t_1h`` order).
    sl : Slice
        What was asked.

    Returns
    -------
    str or None
        The reason, or ``None`` when every arc of the slice reaches its last hour.

    Examples
    --------
    >>> from infotrafic.opendata._query import make_slices
    >>> sl = make_slices([1], pd.Timestamp("2023-01-01T00:00Z"), pd.Timestamp("2023-01-01T03:00Z"),
    ...                  "D")[0]
    >>> times = pd.date_range("2023-01-01T00:00Z", periods=3, freq="h")
    >>> full = pd.DataFrame({"arc_id": 1, "time": times, "flow": 1.0})
    >>> tail_problem(ParsedSlice(full, 3, full.iloc[:0], 0, ordered=True), sl) is None
    True
    >>> tail_problem(ParsedSlice(full.iloc[:2], 2, full.iloc[:0], 0, ordered=True), sl)[:40]
    'arc 1 ends at 2023-01-01 01:00 UTC, befo'
    """
    panel = parsed.panel
    if panel.empty:
        return "no row, and no count to tell an empty slice from a body cut after its header"
    if not parsed.ordered:
        return "rows not in t_1h order, so a cut end cannot be told without a count"
    last = last_hour(sl)
    ends = panel.groupby("arc_id")["time"].max()
    short = ends[ends < last]
    if not len(short):
        return None
    arc, end = int(short.index[0]), pd.Timestamp(short.iloc[0])
    more = f" (and {len(short) - 1} more arc(s))" if len(short) > 1 else ""
    return (
        f"arc {arc} ends at {end:%Y-%m-%d %H:%M} UTC{more}, before the slice's last hour "
        f"{last:%Y-%m-%d %H:%M} UTC: missing at the source or a cut body, and no count to tell"
    )


def whole_zip(path: Path) -> None:
    """Raise :class:`ValueError` unless ``path`` holds a whole ZIP archive.

    A body cut short without a ``Content-Length`` (the server closed the connection) looks
    complete to HTTP; the ZIP's central directory, written last, is then missing.

    Parameters
    ----------
    path : pathlib.Path
        A downloaded archive (the historical dataset's yearly attachments).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            archive.infolist()
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path.name}: not a whole ZIP archive ({exc})") from exc
