"""Per-arc data quality of a canonical panel: coverage, missing flows, gaps, zeros, DST days.

Definitions (every count is in hours; an hour is identified by its end, the panel's ``time``):

``first_time`` / ``last_time``
    The first and last hour with a row for the arc.
``hours_expected``
    Hours on the regular hourly grid from ``first_time`` to ``last_time`` inclusive.
``hours_present`` / ``hours_missing``
    Hours with a row / hours of the grid without one.
``hours_with_flow``
    Rows whose flow is known (zero included).
``missing_flow_share``
    ``1 - hours_with_flow / hours_expected``: the share of the grid without a flow value.
``zero_flow_hours``
    Rows whose flow is exactly 0.
``occupancy_only_hours``
    Rows with an occupancy but no flow.
``gaps`` / ``longest_gap_hours``
    Maximal stretches of consecutive grid hours without a flow value (row absent or flow
    missing), and the length of the longest one.
``dst_spring_days`` / ``dst_spring_hours`` (and ``fall``)
    Daylight-saving change days (Europe/Paris) lying wholly inside the arc's span, and the rows on
    those local days. A complete spring day has 23 hours, a complete fall day 25.
``duplicates`` / ``conflicts`` / ``quarantined``
    From the readers' reports when given: duplicated ``(arc_id, time)`` rows dropped, those among
    them whose values disagreed, and rejected rows (see :func:`~infotrafic.etl.deduplicate`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from infotrafic._schema import PANEL_DTYPES, empty_panel, validate_panel
from infotrafic._time import PARIS_TZ
from infotrafic._types import PathLike

__all__ = [
    "QUALITY_COLUMNS",
    "QualityReport",
    "quality_of_files",
    "quality_of_store",
    "quality_report",
]

_USED = ("arc_id", "time", "flow", "occupancy")
_HOUR = np.timedelta64(3600, "s").astype("timedelta64[ns]")
_PARIS = PARIS_TZ  # zoneinfo: pytz, pandas' default for the name, stops DST after 2037

#: Columns of :meth:`QualityReport.to_frame`, in order.
QUALITY_COLUMNS: tuple[str, ...] = (
    "arc_id",
    "first_time",
    "last_time",
    "hours_expected",
    "hours_present",
    "hours_missing",
    "hours_with_flow",
    "missing_flow_share",
    "zero_flow_hours",
    "occupancy_only_hours",
    "gaps",
    "longest_gap_hours",
    "dst_spring_days",
    "dst_spring_hours",
    "dst_fall_days",
    "dst_fall_hours",
    "duplicates",
    "conflicts",
    "quarantined",
)

_COUNT_COLUMNS = [
    c
    for c in QUALITY_COLUMNS
    if c not in ("arc_id", "first_time", "last_time", "missing_flow_share")
]

# Short headers of the text table.
_TEXT_HEADERS: dict[str, str] = {
    "arc_id": "arc",
    "first_time": "first (UTC)",
    "last_time": "last (UTC)",
    "hours_expected": "expected",
    "hours_present": "present",
    "hours_with_flow": "flow",
    "missing_flow_share": "miss%",
    "zero_flow_hours": "zeros",
    "occupancy_only_hours": "occ-only",
    "gaps": "gaps",
    "longest_gap_hours": "longest",
    "dst_spring": "DST spring",
    "dst_fall": "DST fall",
    "duplicates": "dups",
    "conflicts": "conflicts",
    "quarantined": "quarant.",
}


@dataclass(frozen=True)
class QualityReport:
    """Per-arc quality figures of a panel (see the module docstring for each field).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per arc, columns :data:`QUALITY_COLUMNS`.
    unattributed : dict of str to int
        Duplicates, conflicts and quarantined rows from the reports that could not be tied to
        an arc (e.g. rows whose arc id was unreadable).

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"arc_id": [1, 1, 1],
    ...                   "time": pd.to_datetime(["2024-01-01 01:00", "2024-01-01 02:00",
    ...                                           "2024-01-01 05:00"], utc=True),
    ...                   "flow": [10.0, 0.0, 7.0]})
    >>> row = quality_report(p).to_frame().iloc[0]
    >>> int(row.hours_expected), int(row.hours_with_flow), int(row.gaps), int(row.zero_flow_hours)
    (5, 3, 1, 1)
    """

    table: pd.DataFrame
    unattributed: dict[str, int]

    def to_frame(self) -> pd.DataFrame:
        """Return a copy of the per-arc table.

        Returns
        -------
        pandas.DataFrame
            One row per arc, columns :data:`QUALITY_COLUMNS`.
        """
        return self.table.copy()

    def totals(self) -> dict[str, Any]:
        """Return the figures summed over arcs (shares recomputed on the sums).

        Returns
        -------
        dict
            Same keys as a table row, ``arc_id`` holding the number of arcs.
        """
        t = self.table
        out: dict[str, Any] = {"arcs": len(t)}
        out["first_time"] = t["first_time"].min() if len(t) else None
        out["last_time"] = t["last_time"].max() if len(t) else None
        for col in _COUNT_COLUMNS:
            out[col] = (
                int(t[col].sum())
                if col != "longest_gap_hours"
                else (int(t[col].max()) if len(t) else 0)
            )
        for key, value in self.unattributed.items():
            out[key] += int(value)
        expected = out["hours_expected"]
        out["missing_flow_share"] = 1.0 - out["hours_with_flow"] / expected if expected else 0.0
        return out

    def to_json(self, *, indent: int | None = 1) -> str:
        """Return the report as JSON: ``{"arcs": [...], "total": {...}, "unattributed": {...}}``.

        Times are ISO 8601 strings in UTC.

        Parameters
        ----------
        indent : int or None, default 1
            Passed to :func:`json.dumps`.

        Returns
        -------
        str
            The JSON text.

        Examples
        --------
        >>> import json, pandas as pd
        >>> p = pd.DataFrame({"arc_id": [1], "time": [pd.Timestamp("2024-01-01 01:00Z")],
        ...                   "flow": [3.0]})
        >>> json.loads(quality_report(p).to_json())["arcs"][0]["first_time"]
        '2024-01-01T01:00:00+00:00'
        """
        records = [
            {k: _jsonable(v) for k, v in row.items()}
            for row in self.table.to_dict(orient="records")
        ]
        total = {k: _jsonable(v) for k, v in self.totals().items()}
        payload = {"arcs": records, "total": total, "unattributed": dict(self.unattributed)}
        return json.dumps(payload, indent=indent, ensure_ascii=False)

    def to_text(self) -> str:
        """Return the report as an aligned plain-text table with a total line.

        DST columns read ``rows/expected (days)``.

        Returns
        -------
        str
            The table.

        Examples
        --------
        >>> import pandas as pd
        >>> p = pd.DataFrame({"arc_id": [1], "time": [pd.Timestamp("2024-01-01 01:00Z")],
        ...                   "flow": [3.0]})
        >>> print(quality_report(p).to_text().splitlines()[0])  # doctest: +NORMALIZE_WHITESPACE
        arc first (UTC) last (UTC) expected present flow miss% zeros occ-only gaps longest
        DST spring DST fall dups conflicts quarant.
        """
        rows = [_text_row({str(k): v for k, v in r.items()}) for r in self.table.to_dict("records")]
        total = self.totals()
        total_row = _text_row({**total, "arc_id": f"TOTAL {total['arcs']} arcs"})
        headers = list(_TEXT_HEADERS.values())
        cells = [headers, *rows, total_row]
        widths = [max(len(str(r[i])) for r in cells) for i in range(len(headers))]
        lines = []
        for i, r in enumerate(cells):
            lines.append(
                " ".join(
                    str(v).ljust(w) if j in (0, 1, 2) else str(v).rjust(w)
                    for j, (v, w) in enumerate(zip(r, widths, strict=True))
                ).rstrip()
            )
            if i == 0 or i == len(cells) - 2:
                lines.append(" ".join("-" * w for w in widths))
        if any(self.unattributed.values()):
            lines.append(
                "not tied to an arc: "
                + ", ".join(f"{k} {v}" for k, v in self.unattributed.items() if v)
            )
        return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return None if np.isnan(value) else round(float(value), 6)
    return value


def _fmt_time(value: Any) -> str:
    if value is None or value is pd.NaT:
        return "-"
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def _text_row(r: dict[str, Any]) -> list[str]:
    share = r["missing_flow_share"]
    return [
        str(r["arc_id"]),
        _fmt_time(r["first_time"]),
        _fmt_time(r["last_time"]),
        str(r["hours_expected"]),
        str(r["hours_present"]),
        str(r["hours_with_flow"]),
        "-" if share is None or np.isnan(share) else f"{100 * share:.1f}",
        str(r["zero_flow_hours"]),
        str(r["occupancy_only_hours"]),
        str(r["gaps"]),
        str(r["longest_gap_hours"]),
        f"{r['dst_spring_hours']}/{23 * r['dst_spring_days']} ({r['dst_spring_days']})",
        f"{r['dst_fall_hours']}/{25 * r['dst_fall_days']} ({r['dst_fall_days']})",
        str(r["duplicates"]),
        str(r["conflicts"]),
        str(r["quarantined"]),
    ]


def _dst_days(first: pd.Timestamp, last: pd.Timestamp) -> tuple[list[pd.Timestamp], ...]:
    """Local Paris DST change days wholly inside the span of hour ends [first, last]."""
    spring: list[pd.Timestamp] = []
    fall: list[pd.Timestamp] = []
    for year in range(first.year - 1, last.year + 2):
        for month, out in ((3, spring), (10, fall)):
            # EU rule: the last Sunday of March / October.
            day = pd.Timestamp(year=year, month=month, day=31)
            day = day - pd.Timedelta(days=(day.weekday() + 1) % 7)
            start = day.tz_localize(_PARIS).tz_convert("UTC")
            end = (day + pd.Timedelta(days=1)).tz_localize(_PARIS).tz_convert("UTC")
            # Hours of that local day end from start + 1 h to end (inclusive).
            if start + pd.Timedelta(hours=1) >= first and end <= last:
                out.append(day)
    return spring, fall


def _arc_figures(times: np.ndarray, flow: np.ndarray, occ: np.ndarray) -> dict[str, Any]:
    first, last = times[0], times[-1]
    expected = int((last - first) // _HOUR) + 1
    has_flow = ~np.isnan(flow)
    flow_times = times[has_flow]
    # Sentinels one hour outside the span so leading/trailing stretches count as gaps.
    bounds = np.concatenate(([first - _HOUR], flow_times, [last + _HOUR]))
    holes = (np.diff(bounds) // _HOUR).astype("int64") - 1
    holes = holes[holes > 0]
    first_ts, last_ts = pd.Timestamp(first, tz="UTC"), pd.Timestamp(last, tz="UTC")
    spring, fall = _dst_days(first_ts, last_ts)
    local_day = (
        pd.DatetimeIndex(times - _HOUR, tz="UTC").tz_convert(_PARIS).tz_localize(None).normalize()
    )
    return {
        "first_time": first_ts,
        "last_time": last_ts,
        "hours_expected": expected,
        "hours_present": len(times),
        "hours_missing": expected - len(times),
        "hours_with_flow": int(has_flow.sum()),
        "missing_flow_share": 1.0 - float(has_flow.sum()) / expected,
        "zero_flow_hours": int((flow == 0).sum()),
        "occupancy_only_hours": int((~has_flow & ~np.isnan(occ)).sum()),
        "gaps": len(holes),
        "longest_gap_hours": int(holes.max()) if len(holes) else 0,
        "dst_spring_days": len(spring),
        "dst_spring_hours": int(local_day.isin(spring).sum()),
        "dst_fall_days": len(fall),
        "dst_fall_hours": int(local_day.isin(fall).sum()),
    }


def _is_canonical(panel: pd.DataFrame) -> bool:
    """Whether the columns used here already have the canonical dtypes (skip validation)."""
    return all(c in panel.columns and str(panel[c].dtype) == PANEL_DTYPES[c] for c in _USED)


def quality_report(panel: pd.DataFrame, reports: Any = None) -> QualityReport:
    """Measure per-arc coverage, missing flows, gaps, zeros and DST days of a panel.

    Parameters
    ----------
    panel : pandas.DataFrame
        A canonical panel (validated on entry; not modified).
    reports : ReadResult, ReadReport, FileReport or list of them, optional
        The readers' reports; their duplicates, conflicts and quarantined rows are added to the
        arc of a ReadResult whose panel holds a single arc, and otherwise to
        :attr:`QualityReport.unattributed` (a report alone does not tell which arc a row was).

    Returns
    -------
    QualityReport
        The per-arc table and its renderings.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"arc_id": [7, 7], "time": pd.to_datetime(["2024-01-01 01:00",
    ...                   "2024-01-01 04:00"], utc=True), "flow": [5.0, float("nan")],
    ...                   "occupancy": [1.0, 2.0]})
    >>> r = quality_report(p).to_frame().iloc[0]
    >>> int(r.gaps), int(r.longest_gap_hours), int(r.occupancy_only_hours)
    (1, 3, 1)
    >>> float(r.missing_flow_share)
    0.75
    """
    rows = []
    if len(panel):
        if _is_canonical(panel):
            canon = panel.sort_values(["arc_id", "time"], kind="stable")
        else:
            canon = validate_panel(panel, name="panel", allow_duplicates=True)
        times = canon["time"].to_numpy(dtype="datetime64[ns]")
        flow = canon["flow"].to_numpy(dtype="float64")
        occ = canon["occupancy"].to_numpy(dtype="float64")
        arc_ids = canon["arc_id"].to_numpy()
        cuts = np.flatnonzero(np.diff(arc_ids)) + 1
        starts = np.concatenate(([0], cuts))
        stops = np.concatenate((cuts, [len(arc_ids)]))
        for lo, hi in zip(starts, stops, strict=True):
            figures = _arc_figures(times[lo:hi], flow[lo:hi], occ[lo:hi])
            rows.append({"arc_id": int(arc_ids[lo]), **figures})
    table = pd.DataFrame(rows, columns=list(QUALITY_COLUMNS[:-3]))
    per_arc, unattributed = _report_counts(reports)
    for col in ("duplicates", "conflicts", "quarantined"):
        table[col] = table["arc_id"].map(per_arc[col]).fillna(0).astype("int64")
        # Counts for arcs absent from the panel (all their rows rejected) are still reported.
        extra = sum(v for a, v in per_arc[col].items() if a not in set(table["arc_id"]))
        unattributed[col] += int(extra)
    table = table.astype(dict.fromkeys(_COUNT_COLUMNS, "int64"))
    table["first_time"] = pd.to_datetime(table["first_time"], utc=True)
    table["last_time"] = pd.to_datetime(table["last_time"], utc=True)
    return QualityReport(table=table[list(QUALITY_COLUMNS)], unattributed=unattributed)


@dataclass(frozen=True)
class _ArcCounts:
    """Duplicates/conflicts/quarantined already tied to arcs (``None`` = no arc)."""

    duplicates: dict[int | None, int]
    conflicts: dict[int | None, int]
    quarantined: dict[int | None, int]


def _single_arc(arcs: Any) -> int | None:
    values = {int(a) for a in arcs}
    return values.pop() if len(values) == 1 else None


def _counts_of(item: Any) -> _ArcCounts:
    """Tie the counts of one report-like item to an arc when it holds a single arc.

    Accepted items: a ReadResult (its panel tells the arcs), a ReadReport or FileReport (not
    tied), a store manifest record (a mapping with ``arcs`` and ``report``) or ``_ArcCounts``.
    """
    if isinstance(item, _ArcCounts):
        return item
    if isinstance(item, dict):  # a store manifest record
        report = item.get("report", {})
        arc = _single_arc(item.get("arcs", []))
        quarantined = report.get("n_quarantined", item.get("quarantined", 0))
        return _ArcCounts(
            {arc: int(report.get("duplicates", 0))},
            {arc: int(report.get("conflicts", 0))},
            {arc: int(quarantined)},
        )
    report = getattr(item, "report", item)
    arc = _single_arc(item.panel["arc_id"].unique()) if hasattr(item, "panel") else None
    n_quarantined = getattr(report, "n_quarantined", None)
    if n_quarantined is None:
        n_quarantined = getattr(report, "quarantined", 0)
    return _ArcCounts(
        {arc: int(getattr(report, "duplicates", 0))},
        {arc: int(getattr(report, "conflicts", 0))},
        {arc: int(n_quarantined or 0)},
    )


def _iter_reports(reports: Any) -> list[Any]:
    if reports is None:
        return []
    if isinstance(reports, list | tuple):
        out: list[Any] = []
        for r in reports:
            out.extend(_iter_reports(r))
        return out
    return [reports]


def _report_counts(reports: Any) -> tuple[dict[str, dict[int, int]], dict[str, int]]:
    """Per-arc duplicates/conflicts/quarantined from reports, plus what has no arc."""
    per_arc: dict[str, dict[int, int]] = {"duplicates": {}, "conflicts": {}, "quarantined": {}}
    unattributed = {"duplicates": 0, "conflicts": 0, "quarantined": 0}
    for item in _iter_reports(reports):
        counts = _counts_of(item)
        for col in ("duplicates", "conflicts", "quarantined"):
            for arc, n in getattr(counts, col).items():
                if arc is None:
                    unattributed[col] += int(n)
                else:
                    per_arc[col][arc] = per_arc[col].get(arc, 0) + int(n)
    return per_arc, unattributed


def quality_of_files(paths: Iterable[PathLike], *, progress: bool = False) -> QualityReport:
    """Read files (or directories of files) and report their per-arc quality.

    Each file is read with :func:`~infotrafic.etl.read_file`; the panels are merged in the given
    order with :func:`~infotrafic.etl.deduplicate` (as :func:`~infotrafic.etl.read_files`
    does). Duplicates, conflicts and quarantined rows of a file holding a single arc are tied to
    that arc; those of multi-arc files are reported as unattributed. Duplicates between files
    are counted per arc.

    Parameters
    ----------
    paths : iterable of path-like
        Files and/or directories (see :func:`~infotrafic.etl.expand_paths`).
    progress : bool, default False
        Show a tqdm progress bar over files.

    Returns
    -------
    QualityReport
        The per-arc table of the merged panel.

    Raises
    ------
    FileFormatError
        When a file cannot be read (unreadable, truncated gzip, no known regime); the message
        names it.
    ConfigurationError
        When a directory holds no data file.
    """
    from tqdm.auto import tqdm

    from infotrafic.etl._dedupe import deduplicate
    from infotrafic.etl._read import read_file
    from infotrafic.etl._store import expand_paths

    files = expand_paths(paths, empty_ok=False)
    results = [read_file(p) for p in tqdm(files, desc="read", unit="file", disable=not progress)]
    if not results:
        return quality_report(empty_panel())
    stacked = pd.concat([r.panel for r in results], ignore_index=True)
    panel, stats = deduplicate(stacked)
    merge = _ArcCounts({}, {}, {})
    if stats.duplicates:
        before = stacked["arc_id"].value_counts()
        after = panel["arc_id"].value_counts()
        dropped = before.sub(after, fill_value=0)
        for arc, n in dropped[dropped > 0].items():
            arc_id = int(str(arc))
            merge.duplicates[arc_id] = int(n)
            _, arc_stats = deduplicate(stacked[stacked["arc_id"] == arc_id])
            merge.conflicts[arc_id] = arc_stats.conflicts
    return quality_report(panel, [*results, merge])


def quality_of_store(path: PathLike) -> QualityReport:
    """Report the per-arc quality of a :class:`~infotrafic.etl.ParquetStore`.

    The readers' counts recorded in the store's manifest are tied to the arc of single-arc
    files; duplicates resolved when merging into the store are recorded per arc in the
    manifest and tied to their arc too.

    Parameters
    ----------
    path : path-like
        The store directory.

    Returns
    -------
    QualityReport
        The per-arc table of the stored panel.
    """
    from infotrafic.etl._store import ParquetStore

    store = ParquetStore(path)
    merge = store.manifest().get("merge", {})
    by_arc = {int(arc): counts for arc, counts in merge.get("by_arc", {}).items()}
    dups: dict[int | None, int] = {arc: int(c[0]) for arc, c in by_arc.items()}
    conflicts: dict[int | None, int] = {arc: int(c[1]) for arc, c in by_arc.items()}
    dups[None] = int(merge.get("duplicates", 0)) - sum(int(c[0]) for c in by_arc.values())
    conflicts[None] = int(merge.get("conflicts", 0)) - sum(int(c[1]) for c in by_arc.values())
    store_merge = _ArcCounts(dups, conflicts, {})
    return quality_report(store.read(), [*store.file_records(), store_merge])
