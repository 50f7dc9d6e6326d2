"""Causal filling of missing hours, shared by the adapters that need gap-free inputs.

Darts, mlforecast and statsforecast count rows, not hours, and most of their models reject NaN,
while real arcs miss hours every week. :func:`seasonal_fill` fills a regular hourly grid with
earlier values only (the same hour of the week before, else the last observed value), so a
history cut at a forecast origin and then filled never reads later data.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["SEASON_HOURS", "seasonal_fill"]

#: Hours in a week: the seasonal fill's period.
SEASON_HOURS = 168


def seasonal_fill(values: NDArray[np.float64], period: int = SEASON_HOURS) -> NDArray[np.float64]:
    """Fill missing values causally: same hour of the week first, then the last observed value.

    A missing value at position ``i`` takes the value at the latest observed position
    ``i - k * period`` (``k >= 1``); when none is observed, the value at the latest observed
    position before ``i``; when none either (before the first observation), it stays NaN.
    Every filled value comes from an earlier position, so filling a history cut at a forecast
    origin never uses data after it.

    Parameters
    ----------
    values : numpy.ndarray
        ``(n,)`` or ``(n, k)`` values on a regular hourly grid, NaN where missing; columns are
        filled independently.
    period : int, default 168
        Season length in grid steps (one week of hours).

    Returns
    -------
    numpy.ndarray
        A filled copy, of the same shape.

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 3.0, np.nan, np.nan, 6.0, np.nan])
    >>> seasonal_fill(x, period=3).tolist()
    [1.0, 2.0, 3.0, 1.0, 2.0, 6.0, 1.0]
    >>> seasonal_fill(np.array([np.nan, 5.0, np.nan]), period=2).tolist()
    [nan, 5.0, 5.0]
    """
    arr = np.asarray(values, dtype="float64")
    flat = arr.reshape(len(arr), -1)
    out = flat.copy()
    n = len(flat)
    if n == 0:
        return out.reshape(arr.shape)
    pos = np.arange(n)
    rows = -(-n // period)
    for j in range(flat.shape[1]):
        last = np.where(np.isfinite(flat[:, j]), pos, -1)
        same = np.full(rows * period, -1)
        same[:n] = last
        # per hour of the week, the latest observed position so far
        same = np.maximum.accumulate(same.reshape(rows, period), axis=0).reshape(-1)[:n]
        source = np.where(same >= 0, same, np.maximum.accumulate(last))
        out[:, j] = np.where(source >= 0, flat[np.maximum(source, 0), j], np.nan)
    return out.reshape(arr.shape)
