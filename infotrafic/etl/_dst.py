"""Resolution of naive fall-back hours that appear twice (see :mod:`infotrafic.etl._time`)."""

from __future__ import annotations

from typing import cast

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
    arcs = out["arc_id"].to_numpy()
    times = pd.DatetimeIndex(out["time"]).as_unit("ns").asi8.copy()
    sub = pd.DataFrame({"arc": arcs[amb], "t": times[amb], "pos": np.flatnonzero(amb)})
    counts = sub.groupby(["arc", "t"]).size()
    counts = counts[counts >= 2]
    if counts.empty:
        return out, n_amb
    neighbour_times = np.unique(
        np.concatenate([counts.index.get_level_values("t") + d for d in (-2 * _HOUR, _HOUR)])
    )
    near = np.isin(times, neighbour_times)
    near_counts = pd.DataFrame({"arc": arcs[near], "t": times[near]}).groupby(["arc", "t"]).size()
    shift_pos: list[np.ndarray] = []
    for key, n in counts.items():
        arc, t = cast(tuple[int, int], key)
        ref = max(
            int(near_counts.get((arc, t - 2 * _HOUR), 0)),
            int(near_counts.get((arc, t + _HOUR), 0)),
            1,
        )
        if n != 2 * ref:
            continue
        pos = sub.loc[(sub["arc"] == arc) & (sub["t"] == t), "pos"].to_numpy()
        shift_pos.append(pos[0::2])
    if shift_pos:
        idx = np.concatenate(shift_pos)
        new_times = times.copy()
        new_times[idx] -= _HOUR
        out["time"] = pd.DatetimeIndex(new_times.view("datetime64[ns]")).tz_localize("UTC")
    return out, n_amb
