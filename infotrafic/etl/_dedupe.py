"""The one declared policy for duplicated ``(arc_id, time)`` rows.

For each ``(arc_id, time)`` the kept row is the one with a non-null flow, then (among those) a
non-null occupancy, then the **last occurrence in reading order**: rows read later override rows
read earlier, so a later file (or a later part of a file) wins over an earlier one, e.g. a fresh
export over an old archive. ``duplicates`` counts the extra rows removed; ``conflicts`` counts
those removed rows whose non-null flow or non-null occupancy differs from the kept row's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "DedupeStats",
    "dedupe_by_arc",
    "dedupe_sorted",
    "deduplicate",
    "finalize_panel",
    "panel_keys",
    "strictly_ordered",
]


@dataclass(frozen=True)
class DedupeStats:
    """Counts of :func:`deduplicate`.

    Attributes
    ----------
    rows_in : int
        Rows before deduplication.
    duplicates : int
        Extra rows removed (rows_in - rows kept).
    conflicts : int
        Removed rows whose non-null flow or occupancy differs from the kept row's value.
    """

    rows_in: int
    duplicates: int
    conflicts: int


def deduplicate(panel: pd.DataFrame) -> tuple[pd.DataFrame, DedupeStats]:
    """Keep one row per ``(arc_id, time)`` by the declared policy (see the module docstring).

    Rows are considered in their order in ``panel`` (the reading order). The input is not
    mutated; the result keeps the columns of ``panel`` and the relative order of kept rows.

    Parameters
    ----------
    panel : pandas.DataFrame
        Rows with at least ``arc_id``, ``time``, ``flow``; ``occupancy`` is optional.

    Returns
    -------
    tuple of (pandas.DataFrame, DedupeStats)
        The deduplicated rows and the counts.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.Timestamp("2023-01-01 10:00Z")
    >>> p = pd.DataFrame({"arc_id": [1, 1, 1], "time": [t, t, t],
    ...                   "flow": [5.0, float("nan"), 7.0], "occupancy": [1.0, 2.0, 1.0]})
    >>> kept, stats = deduplicate(p)
    >>> kept["flow"].tolist(), stats
    ([7.0], DedupeStats(rows_in=3, duplicates=2, conflicts=2))
    """
    n = len(panel)
    if n == 0:
        return panel.copy(), DedupeStats(0, 0, 0)
    arc = panel["arc_id"].to_numpy()
    time = pd.DatetimeIndex(panel["time"]).as_unit("ns").asi8
    flow = panel["flow"].to_numpy(dtype="float64", na_value=np.nan)
    occ = (
        panel["occupancy"].to_numpy(dtype="float64", na_value=np.nan)
        if "occupancy" in panel.columns
        else np.full(n, np.nan)
    )
    has_flow = ~np.isnan(flow)
    has_occ = ~np.isnan(occ)
    perm = preference_order(arc, time, has_flow, has_occ)
    a_s, t_s = arc[perm], time[perm]
    last_of_group = np.ones(n, dtype=bool)
    last_of_group[:-1] = (a_s[1:] != a_s[:-1]) | (t_s[1:] != t_s[:-1])
    if last_of_group.all():
        return panel.copy(), DedupeStats(n, 0, 0)
    # index (in sorted order) of the kept row of each sorted row's group
    group_end = np.flatnonzero(last_of_group)
    group_id = np.cumsum(np.r_[0, last_of_group[:-1]])
    kept_sorted = group_end[group_id]
    f_s, o_s = flow[perm], occ[perm]
    f_k, o_k = f_s[kept_sorted], o_s[kept_sorted]
    removed = ~last_of_group
    differs = (~np.isnan(f_s) & ~np.isnan(f_k) & (f_s != f_k)) | (
        ~np.isnan(o_s) & ~np.isnan(o_k) & (o_s != o_k)
    )
    conflicts = int((removed & differs).sum())
    keep_mask = np.zeros(n, dtype=bool)
    keep_mask[perm[last_of_group]] = True
    out = panel.loc[keep_mask].reset_index(drop=True)
    return out, DedupeStats(n, int(n - keep_mask.sum()), conflicts)


def last_positions(keys: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct keys (sorted) and the position of the last row of each.

    Keys already in order (a file written one arc after the other) cost one comparison pass;
    otherwise one hash pass over the keys (no sort of them all), then a sort of the distinct ones.

    Examples
    --------
    >>> keys, last = last_positions(np.array([7, 3, 7, 3, 5]), np.arange(5))
    >>> keys.tolist(), last.tolist()
    ([3, 5, 7], [3, 4, 2])
    """
    if len(keys) > 1 and bool((keys[1:] >= keys[:-1]).all()):
        ends = np.append(np.flatnonzero(keys[1:] != keys[:-1]), len(keys) - 1)
        return keys[ends], positions[ends]
    last = pd.Series(keys).drop_duplicates(keep="last")
    order = np.argsort(last.to_numpy(), kind="stable")
    return last.to_numpy()[order], positions[last.index.to_numpy()[order]]


_HOUR = 3_600_000_000_000
_HOURS_MAX = 10_000_000  # hours since 1970 stay below this until the year 3110
_ARC_MAX = (2**62) // (_HOURS_MAX * 4)


def preference_order(
    arc: np.ndarray, ns: np.ndarray, has_flow: np.ndarray, has_occ: np.ndarray
) -> np.ndarray:
    """Return ``np.lexsort((arange(n), has_occ, has_flow, ns, arc))``, faster when it can.

    Rows sort by ``(arc_id, time)``; within a key the preferred row comes last (flow, then
    occupancy, then reading order). Times on the hour and ordinary ids are packed into one
    int64 per row: already sorted rows (the usual case: partitions, one arc after the other)
    cost one comparison pass; otherwise a stable sort of that key (adaptive to sorted runs).
    """
    n = len(arc)
    if n < 2:
        return np.arange(n)
    hours, rem = np.divmod(ns, _HOUR)
    packable = (
        not rem.any()
        and int(arc.min()) >= 0
        and int(arc.max()) < _ARC_MAX
        and int(hours.min()) >= 0
        and int(hours.max()) < _HOURS_MAX
    )
    if not packable:
        return np.lexsort((np.arange(n), has_occ, has_flow, ns, arc))
    key = (arc.astype("int64") * _HOURS_MAX + hours) * 4 + has_flow * 2 + has_occ
    if bool((key[1:] > key[:-1]).all()):
        return np.arange(n)
    return np.argsort(key, kind="stable")


def finalize_panel(rows: pd.DataFrame) -> pd.DataFrame:
    """Return deduplicated reader rows as a canonical panel sorted by ``(arc_id, time)``.

    The readers guarantee the contract by construction (ids parsed as integers, times UTC on the
    hour, no negative values, one row per ``(arc_id, time)``); this only fixes the column order
    and dtypes and sorts, without the per-value checks of
    :func:`~infotrafic.validate_panel` (which the tests apply to every reader output).

    Parameters
    ----------
    rows : pandas.DataFrame
        Deduplicated rows with the panel columns.

    Returns
    -------
    pandas.DataFrame
        A new frame with exactly :data:`~infotrafic.PANEL_COLUMNS`.
    """
    arc = rows["arc_id"].to_numpy(dtype="int64")
    time = pd.DatetimeIndex(rows["time"]).tz_convert("UTC").as_unit("ns")
    order = np.lexsort((time.asi8, arc))
    if len(order) and (np.diff(order) == 1).all():
        order = slice(None)  # type: ignore[assignment]
    out = pd.DataFrame(
        {
            "arc_id": arc[order],
            "time": time[order],
            "flow": rows["flow"].to_numpy(dtype="float64", na_value=np.nan)[order],
            "occupancy": rows["occupancy"].to_numpy(dtype="float64", na_value=np.nan)[order],
            "traffic_state": rows["traffic_state"].array.astype("Int8")[order],
            "closure_state": rows["closure_state"].array.astype("Int8")[order],
        }
    )
    return out


def dedupe_sorted(rows: pd.DataFrame, *, copy: bool = True) -> tuple[pd.DataFrame, DedupeStats]:
    """Apply the duplicate policy and return the canonical panel sorted by ``(arc_id, time)``.

    Same kept rows and counts as :func:`deduplicate` followed by :func:`finalize_panel`, in one
    sort (the readers' fast path).

    Parameters
    ----------
    rows : pandas.DataFrame
        Reader rows (panel columns) in reading order.
    copy : bool, default True
        When False, rows already sorted and unique are not copied: the panel may share their
        memory (for a caller that owns ``rows`` and drops them).

    Returns
    -------
    tuple of (pandas.DataFrame, DedupeStats)
        The canonical panel and the counts.
    """
    n = len(rows)
    arc = rows["arc_id"].to_numpy(dtype="int64")
    time = pd.DatetimeIndex(rows["time"]).tz_convert("UTC").as_unit("ns")
    ns = time.asi8
    flow = rows["flow"].to_numpy(dtype="float64", na_value=np.nan)
    occ = rows["occupancy"].to_numpy(dtype="float64", na_value=np.nan)
    has_flow, has_occ = ~np.isnan(flow), ~np.isnan(occ)
    perm = preference_order(arc, ns, has_flow, has_occ)
    a_s, t_s = arc[perm], ns[perm]
    last = np.ones(n, dtype=bool)
    last[:-1] = (a_s[1:] != a_s[:-1]) | (t_s[1:] != t_s[:-1])
    conflicts = 0
    if not last.all():
        group_end = np.flatnonzero(last)
        kept_sorted = group_end[np.cumsum(np.r_[0, last[:-1]])]
        f_s, o_s = flow[perm], occ[perm]
        f_k, o_k = f_s[kept_sorted], o_s[kept_sorted]
        differs = (~np.isnan(f_s) & ~np.isnan(f_k) & (f_s != f_k)) | (
            ~np.isnan(o_s) & ~np.isnan(o_k) & (o_s != o_k)
        )
        conflicts = int((~last & differs).sum())
        take: np.ndarray | slice = perm[last]
    elif n and bool(perm[0] == 0 and (np.diff(perm) == 1).all()):
        take = slice(None)  # sorted and unique already: no gather
    else:
        take = perm
    panel = pd.DataFrame(
        {
            "arc_id": arc[take],
            "time": time[take],
            "flow": flow[take],
            "occupancy": occ[take],
            "traffic_state": rows["traffic_state"].array.astype("Int8")[take],
            "closure_state": rows["closure_state"].array.astype("Int8")[take],
        },
        copy=copy and isinstance(take, slice),  # gathered columns are fresh: not copied again
    )
    return panel, DedupeStats(n, n - len(panel), conflicts)


def strictly_ordered(frame: pd.DataFrame) -> bool:
    """Whether rows are sorted by ``(arc_id, time)`` with one row per key (one pass, no sort).

    Examples
    --------
    >>> t = pd.to_datetime(["2023-01-01 10:00", "2023-01-01 09:00"], utc=True)
    >>> strictly_ordered(pd.DataFrame({"arc_id": [1, 2], "time": t}))
    True
    >>> strictly_ordered(pd.DataFrame({"arc_id": [1, 1], "time": t}))
    False
    """
    if len(frame) < 2:
        return True
    arc = frame["arc_id"].to_numpy()
    time = frame["time"].to_numpy(dtype="datetime64[ns]").view("int64")
    d_arc, d_time = np.diff(arc), np.diff(time)
    return bool(np.all((d_arc > 0) | ((d_arc == 0) & (d_time > 0))))


_ARC_FACTOR = 10_000_000  # hours since 1970 stay below this until the year 3110
_NS_PER_HOUR = 3_600_000_000_000


def panel_keys(frame: pd.DataFrame) -> np.ndarray:
    """One int64 per row, ordered like ``(arc_id, time)`` (times are on the hour)."""
    hours = frame["time"].to_numpy(dtype="datetime64[ns]").view("int64") // _NS_PER_HOUR
    return np.asarray(frame["arc_id"].to_numpy(dtype="int64") * _ARC_FACTOR + hours)


def dedupe_by_arc(
    panel: pd.DataFrame, by_arc: dict[int, list[int]]
) -> tuple[pd.DataFrame, int, int]:
    """Apply the library's one dedupe policy; return (frame, duplicates dropped, conflicts).

    ``by_arc`` accumulates ``[duplicates, conflicts]`` per arc: duplicates from the key counts,
    conflicts from the policy itself run per arc on the duplicated keys (only when some exist).
    A panel already sorted with one row per key (a staged month) is returned as it is.
    """
    if strictly_ordered(panel):
        return panel, 0, 0
    out, stats = deduplicate(panel)
    if stats.duplicates:
        keys = panel_keys(panel)
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
