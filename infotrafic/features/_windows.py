"""Sums, counts and extremes over windows of hours, on a whole grid or at a few columns.

The rolling builders read windows ending at ``t - lag``. On a whole grid the sums use blocks
aligned on absolute hours (bit-for-bit independent of where the grid starts); at a few output
columns (a sparse build, e.g. a forecast) the same values are computed from the window's own
cells, adding the same numbers in the same order.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from infotrafic.features._grid import F64, HistoryView

__all__ = ["window_extreme", "window_sums"]

#: Windows up to this length are summed directly, longer ones by blocks.
_DIRECT_WINDOW = 12


def _window_sum(x: F64, window: int, origin: int) -> F64:
    """Sum of ``x`` over the ``window`` columns ending at each column (axis 1).

    Short windows add their values oldest first. Longer ones use van Herk / Gil-Werman blocks:
    the columns are cut into blocks of ``window`` hours aligned on absolute hours (``origin`` is
    the absolute hour of column 0), and each window sum is the suffix sum of one block plus the
    prefix sum of the next. Either way every sum reads only values inside its window, in an
    order fixed by absolute time, so a feature is bit-for-bit the same whatever the first hour
    of the grid (the backtest builds features on panel slices); unlike a cumulative sum over
    the whole grid, no rounding error of far-away values creeps in.
    """
    n_arcs, n_hours = x.shape
    if window <= _DIRECT_WINDOW or n_hours == 0:
        # short windows: add the values oldest first (as position-independent as the blocks)
        out = np.zeros_like(x)
        for i in range(min(window, n_hours) - 1, -1, -1):
            out[:, i:] += x[:, : n_hours - i]
        return out
    off = origin % window
    n_blocks = -(-(off + n_hours) // window)
    pad = np.zeros((n_arcs, n_blocks, window))
    pad.reshape(n_arcs, -1)[:, off : off + n_hours] = x
    out = np.cumsum(pad, axis=2)  # prefix sums within each block
    rev = np.cumsum(pad[:, :, ::-1], axis=2)  # suffix sums, reversed within each block
    del pad
    # a window ending at offset r < window - 1 of block b also covers offsets r + 1 ... of
    # block b - 1: out[b, r] += suffix[b - 1, r + 1] == rev[b - 1, window - 2 - r]
    out[:, 1:, : window - 1] += rev[:, :-1, window - 2 :: -1]
    return np.ascontiguousarray(out.reshape(n_arcs, -1)[:, off : off + n_hours])


def _rolling_sums(
    s: F64, window: int, origin: int, *, squares: bool = True
) -> tuple[F64, F64, F64 | None]:
    """Windowed count, sum and (optionally) sum of squares along axis 1 (NaN ignored)."""
    valid = ~np.isnan(s)
    cnt = _window_sum(valid.astype(np.float64), window, origin)
    x = np.where(valid, s, 0.0)
    sm = _window_sum(x, window, origin)
    if not squares:
        return cnt, sm, None
    np.multiply(x, x, out=x)
    return cnt, sm, _window_sum(x, window, origin)


def _window_sum_at(x: F64, ends: NDArray[np.intp], window: int, hours: NDArray[np.int64]) -> F64:
    """:func:`_window_sum` of a lagged series at a few columns only, with the same arithmetic.

    ``x`` is the unshifted series (NaN already replaced), ``ends[j]`` the grid index of the
    newest value of output column ``j`` (``t - lag``; values before index 0 count as 0) and
    ``hours[j]`` the absolute hour of that output column, on which the blocks of long windows
    are aligned. The sums add the same values in the same order as :func:`_window_sum`, so they
    are bit-for-bit equal to it.
    """
    n_arcs, n_hours = x.shape

    def part(lo: int, hi: int, reverse: bool) -> F64:
        """Sequential sum of x[:, lo:hi] (oldest first, or newest first), zeros outside."""
        a, b = max(lo, 0), min(hi, n_hours)
        if b <= a:
            return np.zeros(n_arcs)
        cols = x[:, a:b][:, ::-1] if reverse else x[:, a:b]
        return np.asarray(np.cumsum(cols, axis=1)[:, -1], dtype=np.float64)

    out = np.zeros((n_arcs, len(ends)))
    for j, (end, hour) in enumerate(zip(ends.tolist(), hours.tolist(), strict=True)):
        if window <= _DIRECT_WINDOW:
            acc = np.zeros(n_arcs)
            for i in range(window - 1, -1, -1):
                if 0 <= end - i < n_hours:
                    acc += x[:, end - i]
            out[:, j] = acc
            continue
        r = hour % window  # position of the target column in its block
        prefix = part(end - r, end + 1, reverse=False)
        if r < window - 1:
            prefix = prefix + part(end - r - window + r + 1, end - r, reverse=True)
        out[:, j] = prefix
    return out


def window_sums(
    view: HistoryView, column: str, lag: int, window: int, *, squares: bool = False
) -> tuple[F64, F64, F64 | None]:
    """Return the count, sum (and sum of squares) over the window of hours ending at ``t - lag``.

    Missing values of ``column`` are skipped. Computed on the whole grid, or on the view's
    output columns only (same values).
    """
    if view.columns is None:
        return _rolling_sums(view.lagged(column, lag), window, view.origin, squares=squares)
    values, idx = view.series(column, lag)
    ends = idx - int(lag)
    lo = max(int(ends.min()) - window + 1, 0) if len(ends) else 0
    hi = max(int(ends.max()) + 1, 0) if len(ends) else 0
    raw = values[:, lo:hi]
    valid = ~np.isnan(raw)
    x = np.where(valid, raw, 0.0)
    shifted, hours = ends - lo, view.hours
    cnt = _window_sum_at(valid.astype(np.float64), shifted, window, hours)
    sm = _window_sum_at(x, shifted, window, hours)
    if not squares:
        return cnt, sm, None
    return cnt, sm, _window_sum_at(x * x, shifted, window, hours)


def window_extreme(
    view: HistoryView, column: str, lag: int, window: int, stat: str, min_periods: int
) -> F64:
    """Return the rolling minimum or maximum over the ``window`` hours ending at ``t - lag``."""
    if view.columns is None:
        frame = pd.DataFrame(view.lagged(column, lag).T)
        roll = frame.rolling(window, min_periods=max(1, min_periods))
        res = roll.min() if stat == "min" else roll.max()
        return np.ascontiguousarray(res.to_numpy(dtype=np.float64).T)
    values, idx = view.series(column, lag)
    out = np.full(view.shape, np.nan)
    for j, end in enumerate((idx - int(lag)).tolist()):
        cols = values[:, max(end - window + 1, 0) : max(end + 1, 0)]
        ok = (~np.isnan(cols)).sum(axis=1) >= max(1, min_periods)
        if ok.any():
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: masked out
                ext = np.nanmin(cols[ok], axis=1) if stat == "min" else np.nanmax(cols[ok], axis=1)
            out[ok, j] = ext
    return out
