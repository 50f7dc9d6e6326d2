"""Resolution of naive fall-back hours that appear twice (see :mod:`infotrafic.etl._time`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["resolve_ambiguous"]

_HOUR = np.int64(3_600_000_000_000)


def resolve_ambiguous(panel: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Resolve naive rows at the repeated fall-back hour; drop the private ``_amb`` flag.

    Rows flagged ``_amb`` carry the standard-time instant. For an arc whose ambiguous hour
    appears ``2 * n`` times while its neighbouring hours (local 01:00 summer time and 03:00
    standard time) appear at most ``n`` times (``n >= 1``), the occurrences alternate in reading
    order: the first of each pair is the summer-time instant (one hour earlier in UTC), the second
    the standard-time one. Otherwise every occurrence stays standard time (block repeats are then
    plain duplicates, handled by the duplicate policy).

    Parameters
    ----------
    panel : pandas.DataFrame
        Canonical rows in reading order with a boolean ``_amb`` column.

    Returns
    -------
    tuple of (pandas.DataFrame, int)
        The rows without ``_amb`` (a new frame) and the number of ambiguous rows seen.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.to_datetime(["2022-10-29 23:00", "2022-10-30 01:00", "2022-10-30 01:00",
    ...                     "2022-10-30 02:00"], utc=True)
    >>> p = pd.DataFrame({"arc_id": 1, "time": t, "flow": [1.0, 2.0, 3.0, 4.0],
    ...                   "_amb": [False, True, True, False]})
    >>> out, n = resolve_ambiguous(p)
    >>> [str(x) for x in out["time"].dt.strftime("%H:%M")], n
    (['23:00', '00:00', '01:00', '02:00'], 2)
    """
    if "_amb" not in panel.columns:
        return panel.copy(), 0
    amb = panel["_amb"].to_numpy(dtype=bool)
    out = panel.drop(columns="_amb")
    n_amb = int(amb.sum())
    if n_amb < 2:
        return out, n_amb
    arcs = out["arc_id"].to_numpy(dtype="int64")
    times = pd.DatetimeIndex(out["time"]).as_unit("ns").asi8.copy()
    idx = _first_of_pairs(arcs, times, np.flatnonzero(amb))
    if len(idx):
        new_times = times.copy()
        new_times[idx] -= _HOUR
        out["time"] = pd.DatetimeIndex(new_times.view("datetime64[ns]")).tz_localize("UTC")
    return out, n_amb


def _first_of_pairs(arcs: np.ndarray, times: np.ndarray, amb_pos: np.ndarray) -> np.ndarray:
    """Positions of the ambiguous rows to move to summer time (the first of each pair).

    For each ``(arc, ambiguous hour)`` seen ``n >= 2`` times, with ``ref`` the larger count of
    the arc's rows at the neighbouring hours (two hours before, one hour after; at least 1):
    when ``n == 2 * ref`` the occurrences at even ranks in reading order are the summer-time
    ones. Vectorised: one sort of the ambiguous rows, one count of the neighbouring rows.
    """
    a, t = arcs[amb_pos], times[amb_pos]
    order = np.lexsort((amb_pos, t, a))
    a, t, pos = a[order], t[order], amb_pos[order]
    new_group = np.ones(len(a), dtype=bool)
    new_group[1:] = (a[1:] != a[:-1]) | (t[1:] != t[:-1])
    starts = np.flatnonzero(new_group)
    sizes = np.diff(np.append(starts, len(a)))
    keep = sizes >= 2
    if not keep.any():
        return np.empty(0, dtype="int64")
    g_arc, g_t = a[starts], t[starts]
    wanted = np.concatenate([g_t - 2 * _HOUR, g_t + _HOUR])
    near = np.isin(times, np.unique(wanted[np.repeat(keep, 2)]))
    pairs = pd.DataFrame({"arc": arcs[near], "t": times[near]}).value_counts()

    def count(ts: np.ndarray) -> np.ndarray:
        index = pd.MultiIndex.from_arrays([g_arc, ts], names=["arc", "t"])
        return np.asarray(pairs.reindex(index, fill_value=0).to_numpy(), dtype="int64")

    ref = np.maximum(np.maximum(count(g_t - 2 * _HOUR), count(g_t + _HOUR)), 1)
    shift_group = keep & (sizes == 2 * ref)
    group_of = np.cumsum(new_group) - 1
    rank = np.arange(len(a)) - starts[group_of]
    return np.asarray(pos[shift_group[group_of] & (rank % 2 == 0)], dtype="int64")
