"""Conformal prediction intervals and state probabilities from past forecast errors.

A forecast ``ŷ`` of target hour ``t`` gets the interval ``[ŷ + q_lo · s, ŷ + q_hi · s]`` where

* ``s`` is the arc's **scale** at the origin: by default its mean value over the week ending at
  ``t - lead`` (the level the forecasters normalise by), known when the forecast is made;
* ``q_lo`` and ``q_hi`` are conformal quantiles of the **scores** ``r = (y - ŷ) / s`` of past
  forecasts of the same model and horizon, pooled over arcs, **in the same hour of the day**
  (Paris time), whose truth was known at the origin: target times ``u`` with
  ``t - lead - window < u <= t - lead`` (rounded down to the recalibration ``step``).

With ``n`` scores, the upper bound of a level ``L`` is the ``ceil((n + 1)(1 - a/2))``-th smallest
score and the lower bound the ``floor((n + 1) a/2)``-th, ``a = 1 - L/100`` (split conformal; the
interval covers with probability at least ``L`` % when errors are exchangeable). With too few
scores for a level (before any error is known) its bounds are NaN.

The predictive distribution of an occupancy forecast gives the probability of each traffic
state (:func:`state_probabilities`). Those errors are grouped by the **forecast's state** rather
than the hour of day, and scaled by the forecast itself (:meth:`ConformalIntervals.state_errors`):
forecasts of saturated hours under-shoot (they regress to the mean) and the probabilities of the
rare saturated and blocked states depend on exactly those errors.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from infotrafic._schema import STATE_THRESHOLDS, occupancy_state
from infotrafic.exceptions import ConfigurationError
from infotrafic.features import (
    TARGETS,
    FeatureSpec,
    HourlyGrid,
    LastValue,
    Rolling,
    SameHourOfWeek,
    build_on_grid,
    calendar_frame,
)

__all__ = [
    "ConformalIntervals",
    "check_levels",
    "interval_columns",
    "local_hours",
    "state_probabilities",
]

_HOUR_NS = 3_600_000_000_000
#: Smallest scale of each series (vehicles/hour; % of occupancy).
_FLOORS: dict[str, float] = {"flow": 1.0, "occupancy": 0.5}
#: Bounds of each series (occupancy is a percentage).
_RANGES: dict[str, tuple[float, float]] = {"flow": (0.0, np.inf), "occupancy": (0.0, 100.0)}
_LEVEL_WINDOW = 168

Scale = Literal["level", "profile"]


def check_levels(levels: Iterable[float] | float | None) -> tuple[float, ...]:
    """Validate interval levels (percent, strictly between 0 and 100), sorted and unique.

    Parameters
    ----------
    levels : float or iterable of float, optional
        E.g. ``(80, 95)``; None or empty gives no level.

    Returns
    -------
    tuple of float

    Raises
    ------
    ConfigurationError
        When a level is not a number in (0, 100).

    Examples
    --------
    >>> check_levels([95, 80, 80])
    (80.0, 95.0)
    >>> check_levels(100)
    Traceback (most recent call last):
    ...
    infotrafic.exceptions.ConfigurationError: level 100 is outside (0, 100): ...
    """
    if levels is None:
        return ()
    raw = [levels] if isinstance(levels, int | float | np.number) else list(levels)
    out = set()
    for value in raw:
        try:
            level = float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"level {value!r} is not a number (use e.g. 80 or 95)"
            ) from exc
        if not 0.0 < level < 100.0 or math.isnan(level):
            raise ConfigurationError(
                f"level {value!r} is outside (0, 100): give the interval's coverage in percent, "
                "e.g. 80 or 95"
            )
        out.add(level)
    return tuple(sorted(out))


def _fmt_level(level: float) -> str:
    return f"{level:g}"


def interval_columns(levels: Iterable[float]) -> list[str]:
    """Return the names of the interval columns: ``lo_<L>``, ``hi_<L>`` per level.

    Parameters
    ----------
    levels : iterable of float
        Levels in percent.

    Returns
    -------
    list of str

    Examples
    --------
    >>> interval_columns([80, 95])
    ['lo_80', 'hi_80', 'lo_95', 'hi_95']
    >>> interval_columns([97.5])
    ['lo_97.5', 'hi_97.5']
    """
    out = []
    for level in check_levels(levels):
        out += [f"lo_{_fmt_level(level)}", f"hi_{_fmt_level(level)}"]
    return out


def local_hours(times: pd.Series | pd.DatetimeIndex) -> NDArray[np.intp]:
    """Paris hour of the day (0-23) of the start of each counting hour ending at ``times``.

    The hour of :func:`~infotrafic.features.calendar_frame` (``hour`` field), computed once per
    distinct time.

    Parameters
    ----------
    times : pandas.Series or pandas.DatetimeIndex
        tz-aware end-of-hour times.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> import pandas as pd
    >>> local_hours(pd.DatetimeIndex(["2023-07-14 09:00Z", "2023-01-14 09:00Z"])).tolist()
    [10, 9]
    """
    ns = pd.DatetimeIndex(times).as_unit("ns").asi8
    uniq, inv = np.unique(ns, return_inverse=True)
    hours = calendar_frame(pd.DatetimeIndex(uniq, tz="UTC"))["hour"].to_numpy()
    return np.asarray(hours.astype(np.intp)[inv], dtype=np.intp)


@dataclasses.dataclass(frozen=True)
class ConformalIntervals:
    """Conformal intervals on scaled errors, by hour of day, over a rolling window.

    See the module notes for the method. Scores come from forecasts scored in the past (a
    backtest's predictions, or the calibration window of :func:`infotrafic.forecasting.train`);
    :meth:`apply` only uses those whose truth was known at each forecast's origin.

    Parameters
    ----------
    levels : tuple of float, default (80, 95)
        Interval levels in percent.
    window : int, default 672
        Hours of scores used (target times within ``window`` hours before the origin): four
        weeks by default.
    step : int, default 24
        Recalibration cadence in hours: the scores used by a forecast are those known at its
        origin rounded down to a multiple of ``step`` (UTC).
    min_scores : int, default 200
        An hour of the day with fewer scores than this in the window uses its newest
        ``min_scores`` scores, older ones included (so that few arcs still calibrate each hour
        on enough errors).
    scale : {"level", "profile"}, default "level"
        The arc's scale ``s``: its mean over the week ending at the origin (``"level"``), or
        its mean at the same hour of the week over the last four weeks (``"profile"``).
    by_hour : bool, default True
        Calibrate each hour of the day on its own scores (Mondrian conformal); False pools every
        hour.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> cal = ConformalIntervals(levels=(80,), window=48, step=1, min_scores=1, by_hour=False)
    >>> times = pd.date_range("2024-01-01 01:00", periods=60, freq="h", tz="UTC")
    >>> scores = pd.DataFrame({"time": times, "score": np.tile([-0.1, 0.1], 30)})
    >>> q = pd.DataFrame({"time": times[-1:], "y_pred": [100.0], "scale": [50.0]})
    >>> cal.apply(q, scores, lead=1)[["lo_80", "hi_80"]].iloc[0].tolist()
    [95.0, 105.0]
    """

    levels: tuple[float, ...] = (80.0, 95.0)
    window: int = 28 * 24
    step: int = 24
    min_scores: int = 200
    scale: Scale = "level"
    by_hour: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", check_levels(self.levels))
        for name in ("window", "step", "min_scores"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
        if self.scale not in ("level", "profile"):
            raise ConfigurationError(f"scale must be 'level' or 'profile', got {self.scale!r}")

    @property
    def columns(self) -> list[str]:
        """The interval columns this calibrator writes (``lo_80``, ``hi_80``, ...)."""
        return interval_columns(self.levels)

    # -- scales and scores -------------------------------------------------------------------
    def scale_spec(self, lead: int, target: str = "flow") -> FeatureSpec:
        """Return the features giving the scale of each target row (leakage-free).

        Parameters
        ----------
        lead : int
            ``horizon + delay`` in hours.
        target : {"flow", "occupancy"}, default "flow"
            The forecast series.

        Returns
        -------
        FeatureSpec
        """
        if target not in TARGETS:
            raise ConfigurationError(f"target must be one of {list(TARGETS)}, got {target!r}")
        main: Rolling | SameHourOfWeek
        if self.scale == "level":
            main = Rolling(target, windows=(_LEVEL_WINDOW,), stats=("mean",), min_periods=24)
        else:
            main = SameHourOfWeek(target, weeks=(4,))
        builders = (main, LastValue(target, age=False, max_age=_LEVEL_WINDOW))
        return FeatureSpec(builders, lead=lead, target=target)

    def scales(
        self,
        panel: pd.DataFrame | None,
        rows: pd.DataFrame,
        lead: int,
        target: str = "flow",
        *,
        grid: HourlyGrid | None = None,
    ) -> NDArray[np.float64]:
        """Return the scale ``s`` of each row (``arc_id``, ``time``), from data at ``t - lead``.

        The scale falls back to the arc's last value (within a week) when the main statistic is
        missing, is never below a floor (1 vehicle/hour, 0.5 % of occupancy), and is NaN when the
        arc has no data in the week before the origin.

        Parameters
        ----------
        panel : pandas.DataFrame
            Canonical panel (history).
        rows : pandas.DataFrame
            ``arc_id`` and ``time`` of the forecasts.
        lead : int
            ``horizon + delay`` in hours.
        target : {"flow", "occupancy"}, default "flow"
            The forecast series.
        grid : HourlyGrid, optional
            A grid already scattered from the panel and covering the rows (then ``panel`` is
            not read).

        Returns
        -------
        numpy.ndarray
        """
        spec = self.scale_spec(lead, target)
        if len(rows) == 0:
            return np.empty(0)
        keys = rows[["arc_id", "time"]]
        if grid is not None:
            X = build_on_grid(grid.with_rows(keys), spec)
        elif panel is not None:
            X = spec.build(panel, targets=keys)
        else:
            raise ConfigurationError("scales need a panel or a grid")
        main, last = spec.feature_names()
        s = X[main].to_numpy(dtype=np.float64)
        s = np.where(np.isnan(s), X[last].to_numpy(dtype=np.float64), s)
        return np.where(np.isnan(s), np.nan, np.maximum(s, _FLOORS[target]))

    @staticmethod
    def scores(y_true: ArrayLike, y_pred: ArrayLike, scale: ArrayLike) -> NDArray[np.float64]:
        """Return the conformity scores ``(y - ŷ) / s`` (NaN where any input is missing).

        Parameters
        ----------
        y_true, y_pred, scale : array-like of float
            Observations, forecasts and scales.

        Returns
        -------
        numpy.ndarray
        """
        y = np.asarray(y_true, dtype=np.float64)
        p = np.asarray(y_pred, dtype=np.float64)
        s = np.asarray(scale, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (y - p) / s

    def errors(
        self, time: pd.Series, y_true: ArrayLike, y_pred: ArrayLike, scale: ArrayLike
    ) -> pd.DataFrame:
        """Return the calibration errors of past forecasts for :meth:`apply`.

        Parameters
        ----------
        time : pandas.Series
            Target hours (UTC).
        y_true, y_pred, scale : array-like of float
            Observations, forecasts and their scales (:meth:`scales`).

        Returns
        -------
        pandas.DataFrame
            ``time``, ``score`` (:meth:`scores`) and ``group`` (the Paris hour of day, the
            calibration group), rows with a missing score dropped.
        """
        score = self.scores(y_true, y_pred, scale)
        out = pd.DataFrame(
            {
                "time": pd.DatetimeIndex(time),
                "score": score,
                "group": self._hour_groups(pd.DatetimeIndex(time)),
            }
        )
        return out.loc[np.isfinite(score)].reset_index(drop=True)

    def state_errors(self, time: pd.Series, y_true: ArrayLike, y_pred: ArrayLike) -> pd.DataFrame:
        """Return the calibration errors of past occupancy forecasts for the state probabilities.

        The state is calibrated conditionally on the **forecast's own state** (Mondrian by
        the band of ``ŷ``), with errors relative to the forecast: ``r = (y - ŷ) / max(ŷ, 0.5)``.
        Forecasts of busy hours err differently from quiet ones (they regress to the mean),
        and the probabilities of the rare saturated and blocked states depend on exactly those.

        Parameters
        ----------
        time : pandas.Series
            Target hours (UTC).
        y_true, y_pred : array-like of float
            Observed and forecast occupancies (%).

        Returns
        -------
        pandas.DataFrame
            ``time``, ``score`` and ``group`` (the forecast's state code), rows with a missing
            score dropped.
        """
        p = np.asarray(y_pred, dtype=np.float64)
        score = self.scores(y_true, p, _state_scale(p))
        out = pd.DataFrame(
            {"time": pd.DatetimeIndex(time), "score": score, "group": occupancy_state(p)}
        )
        return out.loc[np.isfinite(score)].reset_index(drop=True)

    def _hour_groups(self, times: pd.DatetimeIndex) -> NDArray[np.intp]:
        if not self.by_hour:
            return np.zeros(len(times), dtype=np.intp)
        return local_hours(times)

    # -- calibration groups ------------------------------------------------------------------
    def _groups(
        self,
        times: pd.Series,
        groups: NDArray[np.intp],
        errors: pd.DataFrame,
        lead: int,
    ) -> Iterator[tuple[NDArray[np.intp], NDArray[np.float64]]]:
        """Yield ``(query positions, sorted scores)`` for each calibration step and group."""
        q_ns = pd.DatetimeIndex(times).as_unit("ns").asi8
        step_ns = int(self.step) * _HOUR_NS
        # scores known at the origin: target time <= t - lead, rounded down to the step grid
        avail = ((q_ns - lead * _HOUR_NS) // step_ns) * step_ns
        ok = np.isfinite(errors["score"].to_numpy(dtype=np.float64))
        s_frame = errors.loc[ok]
        s_ns = pd.DatetimeIndex(s_frame["time"]).as_unit("ns").asi8
        s_val = s_frame["score"].to_numpy(dtype=np.float64)
        if "group" in s_frame.columns:
            s_group = s_frame["group"].to_numpy(dtype=np.intp)
        else:  # plain (time, score) frames: by hour of day
            s_group = self._hour_groups(pd.DatetimeIndex(s_frame["time"]))
        order = np.argsort(s_ns, kind="stable")
        s_ns, s_val, s_group = s_ns[order], s_val[order], s_group[order]
        members = {g: np.flatnonzero(s_group == g) for g in np.unique(s_group)}
        window_ns = int(self.window) * _HOUR_NS
        keys = np.unique(avail)
        key_of = np.searchsorted(keys, avail)
        q_order = np.lexsort((groups, key_of))
        bounds = np.flatnonzero(np.diff(key_of[q_order]) | np.diff(groups[q_order])) + 1
        for part in np.split(q_order, bounds):
            if not len(part):
                continue
            hi_ns = int(avail[part[0]])
            lo, hi = np.searchsorted(s_ns, [hi_ns - window_ns, hi_ns], side="right")
            idx = members.get(int(groups[part[0]]), np.empty(0, dtype=np.intp))
            a, b = np.searchsorted(idx, [lo, hi])
            # too few scores in the window: the newest min_scores of the group, older ones too
            a = min(a, max(0, b - int(self.min_scores)))
            yield part, np.sort(s_val[idx[a:b]])

    # -- application -------------------------------------------------------------------------
    def apply(
        self,
        queries: pd.DataFrame,
        errors: pd.DataFrame,
        lead: int,
        target: str = "flow",
    ) -> pd.DataFrame:
        """Return the interval bounds of forecasts from the errors known at their origin.

        Parameters
        ----------
        queries : pandas.DataFrame
            The forecasts: ``time`` (target hour, UTC), ``y_pred`` and ``scale``.
        errors : pandas.DataFrame
            Past forecasts of the same model and lead (:meth:`errors`): ``time`` (target hour),
            ``score`` and ``group`` (without it, the hour of day of ``time``).
        lead : int
            ``horizon + delay`` in hours: an error is usable by a forecast of ``t`` when its
            target time is at most ``t - lead`` (rounded down to ``step``).
        target : {"flow", "occupancy"}, default "flow"
            Bounds are clipped to the series' range (0 and up; 0-100 % for occupancy).

        Returns
        -------
        pandas.DataFrame
            One row per query (same index), columns :attr:`columns`.
        """
        out = np.full((len(queries), 2 * len(self.levels)), np.nan)
        if len(queries) and len(errors):
            y = queries["y_pred"].to_numpy(dtype=np.float64)
            s = queries["scale"].to_numpy(dtype=np.float64)
            lo_q, hi_q = _conformal_ranks(self.levels)
            groups = self._hour_groups(pd.DatetimeIndex(queries["time"]))
            for part, sample in self._groups(queries["time"], groups, errors, lead):
                n = len(sample)
                for j, (a, b) in enumerate(zip(lo_q, hi_q, strict=True)):
                    rank_lo = math.floor((n + 1) * a)
                    rank_hi = math.ceil((n + 1) * b)
                    if rank_lo < 1 or rank_hi > n:
                        continue  # too few scores for this level
                    out[part, 2 * j] = y[part] + sample[rank_lo - 1] * s[part]
                    out[part, 2 * j + 1] = y[part] + sample[rank_hi - 1] * s[part]
        low, high = _RANGES[target]
        out = np.clip(out, low, high)
        return pd.DataFrame(out, columns=self.columns, index=queries.index)

    def state_probabilities(
        self,
        queries: pd.DataFrame,
        errors: pd.DataFrame,
        lead: int,
    ) -> NDArray[np.float64]:
        """Return the probability of each traffic state from occupancy forecasts.

        Parameters
        ----------
        queries : pandas.DataFrame
            Occupancy forecasts: ``time`` (target hour) and ``y_pred``.
        errors : pandas.DataFrame
            Past occupancy forecast errors (:meth:`state_errors`).
        lead : int
            ``horizon + delay`` in hours.

        Returns
        -------
        numpy.ndarray
            ``(n_queries, 4)``: probabilities of states 1-4 (``Fluide`` ... ``Bloqué``); NaN rows
            where no error or no forecast is available.
        """
        out = np.full((len(queries), 4), np.nan)
        if not len(queries) or not len(errors):
            return out
        y = queries["y_pred"].to_numpy(dtype=np.float64)
        s = _state_scale(y)
        groups = occupancy_state(y).astype(np.intp)
        for part, sample in self._groups(queries["time"], groups, errors, lead):
            if len(sample):
                out[part] = state_probabilities(y[part], s[part], sample)
        return out


def _state_scale(occupancy: NDArray[np.float64]) -> NDArray[np.float64]:
    """Scale of an occupancy forecast's errors for the state: the forecast itself (>= 0.5 %)."""
    return np.where(np.isnan(occupancy), np.nan, np.maximum(occupancy, _FLOORS["occupancy"]))


def _conformal_ranks(levels: Sequence[float]) -> tuple[list[float], list[float]]:
    alphas = [1.0 - level / 100.0 for level in levels]
    return [a / 2 for a in alphas], [1 - a / 2 for a in alphas]


def state_probabilities(
    occupancy: ArrayLike, scale: ArrayLike, scores: ArrayLike
) -> NDArray[np.float64]:
    """Probability of each traffic state given occupancy forecasts and their error scores.

    The predictive distribution of forecast ``ŷ`` with scale ``s`` is that of ``ŷ + r · s``
    over the scores ``r``; the probability of state ``j`` is the share of it between the state's
    occupancy bounds (:data:`~infotrafic.STATE_THRESHOLDS`).

    Parameters
    ----------
    occupancy : array-like of float
        Occupancy forecasts (%).
    scale : array-like of float
        Their scales.
    scores : array-like of float
        Scores ``(y - ŷ) / s`` of past forecasts.

    Returns
    -------
    numpy.ndarray
        ``(n, 4)`` probabilities of states 1-4 (rows sum to 1; NaN for missing forecasts).

    Examples
    --------
    >>> # 10 + 10 r: 8, 10, 14 (Fluide, below 15 %) and 16 (Pré-saturé)
    >>> state_probabilities([10.0], [10.0], [-0.2, 0.0, 0.4, 0.6]).tolist()
    [[0.75, 0.25, 0.0, 0.0]]
    """
    y = np.asarray(occupancy, dtype=np.float64)
    s = np.asarray(scale, dtype=np.float64)
    r = np.sort(np.asarray(scores, dtype=np.float64))
    r = r[np.isfinite(r)]
    out = np.full((len(y), 4), np.nan)
    ok = np.isfinite(y) & np.isfinite(s) & (s > 0)
    if not len(r) or not ok.any():
        return out
    bounds = np.asarray(STATE_THRESHOLDS)
    # share of scores r with y + r s < bound, i.e. r < (bound - y) / s
    cut = (bounds[None, :] - y[ok, None]) / s[ok, None]
    below = np.searchsorted(r, cut, side="left") / len(r)
    cdf = np.concatenate([np.zeros((len(cut), 1)), below, np.ones((len(cut), 1))], axis=1)
    out[ok] = np.diff(cdf, axis=1)
    return out
