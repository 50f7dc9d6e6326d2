"""Point-forecast error metrics: pure, NaN-aware functions on array-likes.

A pair ``(y_true[i], y_pred[i])`` takes part in a metric only when both values are finite; the
others are ignored (the backtest report counts them separately as missing coverage). A metric
over zero usable pairs is NaN.

=========  ==============================================================================
metric     definition (over usable pairs)
=========  ==============================================================================
``mae``    mean of ``|y_pred - y_true|`` (vehicles/hour; the primary metric)
``rmse``   square root of the mean of ``(y_pred - y_true) ** 2``
``bias``   mean of ``y_pred - y_true`` (positive = over-forecast)
``wmape``  ``sum |y_pred - y_true| / sum |y_true|`` (a ratio, not a percentage)
``mase``   ``mae / scale`` where ``scale`` is the in-sample MAE of the seasonal naive
           forecast (season 168 h) on the training series (:func:`seasonal_scale`)
=========  ==============================================================================

Interval forecasts ``[lo, hi]`` of level ``L`` % (``a = 1 - L/100``) are scored by their
``coverage`` (share of observations inside), mean ``width`` (``hi - lo``) and ``winkler`` score:
the width plus ``2/a`` times the distance by which the observation falls outside (lower is
better; it rewards narrow intervals that still cover). Traffic states are scored by
``accuracy`` and ``macro_f1`` (the unweighted mean of each state's F1, so that the rare
saturated and blocked states count as much as the fluid one).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "accuracy",
    "bias",
    "coverage",
    "macro_f1",
    "mae",
    "mase",
    "rmse",
    "seasonal_scale",
    "width",
    "winkler",
    "winkler_scores",
    "wmape",
]

ArrayLike = npt.ArrayLike


def _pairs(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype="float64").ravel()
    p = np.asarray(y_pred, dtype="float64").ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.size} != {p.size}")
    ok = np.isfinite(t) & np.isfinite(p)
    return t[ok], p[ok]


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error over the pairs where both values are finite.

    Parameters
    ----------
    y_true, y_pred : array-like of float
        Observations and forecasts, same length.

    Returns
    -------
    float
        NaN when no pair is usable.

    Examples
    --------
    >>> mae([10, 20, float("nan")], [12, 17, 5])
    2.5
    """
    t, p = _pairs(y_true, y_pred)
    return float(np.mean(np.abs(p - t))) if t.size else float("nan")


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error over the pairs where both values are finite.

    Parameters
    ----------
    y_true, y_pred : array-like of float
        Observations and forecasts, same length.

    Returns
    -------
    float
        NaN when no pair is usable.

    Examples
    --------
    >>> rmse([0, 0], [3, 4])
    3.5355...
    """
    t, p = _pairs(y_true, y_pred)
    return float(np.sqrt(np.mean((p - t) ** 2))) if t.size else float("nan")


def bias(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean of ``y_pred - y_true`` (positive when the forecast is too high).

    Parameters
    ----------
    y_true, y_pred : array-like of float
        Observations and forecasts, same length.

    Returns
    -------
    float
        NaN when no pair is usable.

    Examples
    --------
    >>> bias([10, 20], [12, 17])
    -0.5
    """
    t, p = _pairs(y_true, y_pred)
    return float(np.mean(p - t)) if t.size else float("nan")


def wmape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Weighted MAPE: ``sum |y_pred - y_true| / sum |y_true|``.

    Unlike the plain MAPE it stays finite when some observations are zero (quiet night hours).

    Parameters
    ----------
    y_true, y_pred : array-like of float
        Observations and forecasts, same length.

    Returns
    -------
    float
        NaN when no pair is usable or every observation is zero.

    Examples
    --------
    >>> wmape([0, 100], [10, 90])
    0.2
    """
    t, p = _pairs(y_true, y_pred)
    denom = float(np.sum(np.abs(t)))
    if not t.size or denom == 0.0:
        return float("nan")
    return float(np.sum(np.abs(p - t)) / denom)


def seasonal_scale(y_train: ArrayLike, season: int = 168) -> float:
    """In-sample MAE of the seasonal naive forecast on a regular hourly series.

    ``mean |y[i] - y[i - season]|`` over the ``i`` where both values are finite: the MASE
    denominator. ``y_train`` must be on a regular hourly grid (NaN for missing hours).

    Parameters
    ----------
    y_train : array-like of float
        The training series of one arc, hour by hour, oldest first.
    season : int, default 168
        The season in steps (168 = one week of hours).

    Returns
    -------
    float
        NaN when fewer than ``season + 1`` values are available or no pair is usable.

    Examples
    --------
    >>> seasonal_scale([1, 2, 4, 8], season=2)
    4.5
    """
    y = np.asarray(y_train, dtype="float64").ravel()
    if y.size <= season:
        return float("nan")
    return mae(y[season:], y[:-season])


def mase(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    y_train: ArrayLike | None = None,
    *,
    season: int = 168,
    scale: float | None = None,
) -> float:
    """Mean absolute scaled error: MAE divided by the seasonal-naive in-sample MAE.

    Below 1 the forecast beats, out of sample, what the seasonal naive forecast achieved in
    sample. Give either the training series ``y_train`` (hourly grid) or a precomputed ``scale``.

    Parameters
    ----------
    y_true, y_pred : array-like of float
        Observations and forecasts, same length.
    y_train : array-like of float, optional
        Hourly training series used to compute the scale with :func:`seasonal_scale`.
    season : int, default 168
        Season of the scaling forecast.
    scale : float, optional
        A precomputed scale (takes precedence over ``y_train``).

    Returns
    -------
    float
        NaN when the scale is unknown, zero or not finite.

    Examples
    --------
    >>> mase([10, 20], [12, 17], scale=5.0)
    0.5
    >>> mase([10, 20], [12, 17], [1, 2, 4, 8], season=2)
    0.5555...
    """
    if scale is None:
        if y_train is None:
            raise ValueError("mase needs y_train or scale")
        scale = seasonal_scale(y_train, season)
    if not np.isfinite(scale) or scale <= 0:
        return float("nan")
    return mae(y_true, y_pred) / float(scale)


def _intervals(
    y_true: ArrayLike, lower: ArrayLike, upper: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype="float64").ravel()
    lo = np.asarray(lower, dtype="float64").ravel()
    hi = np.asarray(upper, dtype="float64").ravel()
    if not t.shape == lo.shape == hi.shape:
        raise ValueError(
            f"y_true, lower and upper differ in length: {t.size}, {lo.size}, {hi.size}"
        )
    ok = np.isfinite(t) & np.isfinite(lo) & np.isfinite(hi)
    return t[ok], lo[ok], hi[ok]


def coverage(y_true: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of observations inside their interval ``[lower, upper]``.

    Parameters
    ----------
    y_true, lower, upper : array-like of float
        Observations and interval bounds, same length (triples with a NaN are ignored).

    Returns
    -------
    float
        NaN when no triple is usable.

    Examples
    --------
    >>> coverage([10, 20, 30, 40], [8, 21, 25, 0], [12, 25, 35, 50])
    0.75
    """
    t, lo, hi = _intervals(y_true, lower, upper)
    return float(np.mean((t >= lo) & (t <= hi))) if t.size else float("nan")


def width(lower: ArrayLike, upper: ArrayLike) -> float:
    """Mean width ``upper - lower`` of intervals.

    Parameters
    ----------
    lower, upper : array-like of float
        Interval bounds, same length (pairs with a NaN are ignored).

    Returns
    -------
    float

    Examples
    --------
    >>> width([8, 21], [12, 25])
    4.0
    """
    _, lo, hi = _intervals(np.zeros(np.shape(lower)), lower, upper)
    return float(np.mean(hi - lo)) if lo.size else float("nan")


def winkler_scores(
    y_true: ArrayLike, lower: ArrayLike, upper: ArrayLike, level: float
) -> np.ndarray:
    """Winkler (interval) score of each observation, NaN where a value is missing.

    ``(upper - lower) + (2 / a) * max(lower - y, 0) + (2 / a) * max(y - upper, 0)`` with
    ``a = 1 - level / 100``.

    Parameters
    ----------
    y_true, lower, upper : array-like of float
        Observations and interval bounds, same length.
    level : float
        The intervals' level in percent.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> winkler_scores([10, 30], [8, 21], [12, 25], level=80).tolist()
    [4.0, 54.0]
    """
    t = np.asarray(y_true, dtype="float64").ravel()
    lo = np.asarray(lower, dtype="float64").ravel()
    hi = np.asarray(upper, dtype="float64").ravel()
    a = 1.0 - float(level) / 100.0
    if not 0.0 < a < 1.0:
        raise ValueError(f"level must be in (0, 100), got {level}")
    with np.errstate(invalid="ignore"):
        penalty = np.maximum(lo - t, 0.0) + np.maximum(t - hi, 0.0)
    return np.asarray((hi - lo) + (2.0 / a) * penalty, dtype="float64")


def winkler(y_true: ArrayLike, lower: ArrayLike, upper: ArrayLike, level: float) -> float:
    """Mean Winkler score of intervals (see :func:`winkler_scores`; lower is better).

    Parameters
    ----------
    y_true, lower, upper : array-like of float
        Observations and interval bounds, same length (triples with a NaN are ignored).
    level : float
        The intervals' level in percent.

    Returns
    -------
    float
        NaN when no triple is usable.

    Examples
    --------
    >>> winkler([10, 30], [8, 21], [12, 25], level=80)
    29.0
    """
    scores = winkler_scores(y_true, lower, upper, level)
    scores = scores[np.isfinite(scores)]
    return float(np.mean(scores)) if scores.size else float("nan")


def _labels(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true).ravel()
    p = np.asarray(y_pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.size} != {p.size}")
    return t, p


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of states forecast exactly.

    Parameters
    ----------
    y_true, y_pred : array-like
        Observed and forecast states (codes or labels), same length.

    Returns
    -------
    float
        NaN for empty input.

    Examples
    --------
    >>> accuracy([1, 1, 2, 3], [1, 2, 2, 3])
    0.75
    """
    t, p = _labels(y_true, y_pred)
    return float(np.mean(t == p)) if t.size else float("nan")


def macro_f1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Unweighted mean of the F1 score of every state seen (observed or forecast).

    A state never forecast correctly scores 0 (scikit-learn's ``f1_score`` with
    ``average="macro"`` and ``zero_division=0``).

    Parameters
    ----------
    y_true, y_pred : array-like
        Observed and forecast states, same length.

    Returns
    -------
    float
        NaN for empty input.

    Examples
    --------
    >>> round(macro_f1([1, 1, 2, 3], [1, 2, 2, 3]), 4)
    0.7778
    """
    t, p = _labels(y_true, y_pred)
    if not t.size:
        return float("nan")
    from sklearn.metrics import f1_score

    return float(f1_score(t, p, average="macro", zero_division=0.0))
