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

Every metric is computed in one place, from per-pair *terms*: :func:`error_terms` gives each
pair's error, absolute error, squared error, scaled absolute error and ``|y_true|``, and
:func:`point_metrics` turns the means of those terms into the point metrics (``rmse`` is the
square root of the mean squared error, ``wmape`` the ratio of two means); :func:`interval_terms`
gives each interval's ``inside``, ``width`` and ``winkler`` score, whose means are the interval
metrics. The scalar functions below average the terms of one series; the backtest report
averages the same terms by group (model, arc, hour, horizon).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

__all__ = [
    "ERROR_TERMS",
    "INTERVAL_TERMS",
    "POINT_METRICS",
    "accuracy",
    "bias",
    "coverage",
    "error_terms",
    "interval_terms",
    "macro_f1",
    "mae",
    "mase",
    "point_metrics",
    "rmse",
    "seasonal_scale",
    "width",
    "winkler",
    "winkler_scores",
    "wmape",
]

ArrayLike = npt.ArrayLike

#: The point metrics, in the order of the report's tables.
POINT_METRICS: tuple[str, ...] = ("mae", "rmse", "bias", "mase", "wmape")
#: Per-pair terms of :func:`error_terms`: error, absolute, squared, scaled absolute, ``|y_true|``.
ERROR_TERMS: tuple[str, ...] = ("err", "ae", "se", "sae", "ay")
#: Per-interval terms of :func:`interval_terms`.
INTERVAL_TERMS: tuple[str, ...] = ("inside", "width", "winkler")


def error_terms(
    y_true: ArrayLike, y_pred: ArrayLike, scale: ArrayLike | None = None
) -> dict[str, np.ndarray]:
    """Per-pair terms whose means make the point metrics (NaN where a pair is not usable).

    Parameters
    ----------
    y_true, y_pred : array-like of float
        Observations and forecasts, same length.
    scale : float or array-like of float, optional
        MASE scale of each pair (or one for all); a scale that is missing, zero or negative
        leaves the pair's ``sae`` NaN.

    Returns
    -------
    dict of str to numpy.ndarray
        ``err`` (``y_pred - y_true``), ``ae`` (``|err|``), ``se`` (``err ** 2``), ``sae``
        (``ae / scale``) and ``ay`` (``|y_true|``); see :func:`point_metrics`.

    Examples
    --------
    >>> terms = error_terms([10, 20, float("nan")], [12, 17, 5], scale=2.0)
    >>> terms["err"].tolist(), terms["sae"].tolist()
    ([2.0, -3.0, nan], [1.0, 1.5, nan])
    """
    t = np.asarray(y_true, dtype="float64").ravel()
    p = np.asarray(y_pred, dtype="float64").ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.size} != {p.size}")
    ok = np.isfinite(t) & np.isfinite(p)
    with np.errstate(invalid="ignore"):
        err = np.where(ok, p - t, np.nan)
    ae = np.abs(err)
    if scale is None:
        sae = np.full(t.shape, np.nan)
    else:
        s = np.broadcast_to(np.asarray(scale, dtype="float64").ravel(), t.shape)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            sae = ae / np.where(s > 0, s, np.nan)
    with np.errstate(over="ignore"):
        se = err**2
    return {"err": err, "ae": ae, "se": se, "sae": sae, "ay": np.where(ok, np.abs(t), np.nan)}


def point_metrics(means: Mapping[str, ArrayLike]) -> dict[str, np.ndarray]:
    """Return the point metrics from the means of the :func:`error_terms` over a set of pairs.

    Parameters
    ----------
    means : mapping of str to float or array-like
        The mean of each term of :data:`ERROR_TERMS` (scalars, or one value per group).

    Returns
    -------
    dict of str to numpy.ndarray
        ``mae``, ``rmse``, ``bias``, ``mase`` and ``wmape`` (NaN where every ``|y_true|`` is 0).

    Examples
    --------
    >>> m = point_metrics({"err": -0.5, "ae": 2.5, "se": 6.5, "sae": 1.25, "ay": 15.0})
    >>> {k: round(float(v), 4) for k, v in m.items()}
    {'mae': 2.5, 'rmse': 2.5495, 'bias': -0.5, 'mase': 1.25, 'wmape': 0.1667}
    """
    m = {k: np.asarray(means[k], dtype="float64") for k in ERROR_TERMS}
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        wmape = np.where(m["ay"] > 0, m["ae"] / m["ay"], np.nan)
        rmse = np.sqrt(m["se"])
    return {"mae": m["ae"], "rmse": rmse, "bias": m["err"], "mase": m["sae"], "wmape": wmape}


def _mean(values: np.ndarray) -> float:
    """Mean of the values that are not NaN (the usable pairs' terms); NaN without any."""
    usable = values[~np.isnan(values)]
    return float(np.mean(usable)) if usable.size else float("nan")


def _point(name: str, y_true: ArrayLike, y_pred: ArrayLike, scale: float | None = None) -> float:
    """One point metric of one series, from the means of its :func:`error_terms`."""
    terms = error_terms(y_true, y_pred, scale)
    return float(point_metrics({k: _mean(v) for k, v in terms.items()})[name])


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
    return _point("mae", y_true, y_pred)


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
    return _point("rmse", y_true, y_pred)


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
    return _point("bias", y_true, y_pred)


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
    return _point("wmape", y_true, y_pred)


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
    return _point("mase", y_true, y_pred, float(scale))


def interval_terms(
    y_true: ArrayLike, lower: ArrayLike, upper: ArrayLike, level: float | None = None
) -> dict[str, np.ndarray]:
    """Per-interval terms whose means make the interval metrics (NaN where a value is missing).

    Parameters
    ----------
    y_true, lower, upper : array-like of float
        Observations and interval bounds, same length.
    level : float, optional
        The intervals' level in percent; needed for the ``winkler`` term.

    Returns
    -------
    dict of str to numpy.ndarray
        ``inside`` (1.0 when ``lower <= y_true <= upper``, else 0.0), ``width``
        (``upper - lower``) and, with a ``level``, ``winkler`` (:func:`winkler_scores`).

    Examples
    --------
    >>> terms = interval_terms([10, 30, float("nan")], [8, 21, 0], [12, 25, 1], level=80)
    >>> terms["inside"].tolist(), terms["winkler"].tolist()
    ([1.0, 0.0, nan], [4.0, 54.0, nan])
    """
    t = np.asarray(y_true, dtype="float64").ravel()
    lo = np.asarray(lower, dtype="float64").ravel()
    hi = np.asarray(upper, dtype="float64").ravel()
    if not t.shape == lo.shape == hi.shape:
        raise ValueError(
            f"y_true, lower and upper differ in length: {t.size}, {lo.size}, {hi.size}"
        )
    ok = np.isfinite(t) & np.isfinite(lo) & np.isfinite(hi)
    with np.errstate(invalid="ignore"):
        terms = {
            "inside": np.where(ok, (t >= lo) & (t <= hi), np.nan),
            "width": np.where(ok, hi - lo, np.nan),
        }
    if level is not None:
        terms["winkler"] = np.where(ok, winkler_scores(t, lo, hi, level), np.nan)
    return terms


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
    return _mean(interval_terms(y_true, lower, upper)["inside"])


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
    return _mean(interval_terms(np.zeros(np.size(lower)), lower, upper)["width"])


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
    return _mean(interval_terms(y_true, lower, upper, level)["winkler"])


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
