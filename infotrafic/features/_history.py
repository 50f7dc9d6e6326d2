"""Builders of history features: lags, last value, rolling statistics, weekly profiles, EWM.

Every builder reads the series through :class:`~infotrafic.features.HistoryView`, which refuses
any lag below the lead; the names of the columns it makes state the lag actually used, e.g.
``flow_lag1`` or ``flow_rolling_mean_lag1_window24``. Lags are counted in hours back from the
target hour ``t`` (so ``flow_lag168`` is the same hour one week earlier). Parameters left to
``None`` default to the lead (the most recent usable value).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from infotrafic.exceptions import ConfigurationError
from infotrafic.features._calendar import day_types
from infotrafic.features._grid import F64, HistoryView, shift
from infotrafic.features._windows import window_extreme, window_sums

__all__ = [
    "EWM",
    "Lags",
    "LastValue",
    "MissingIndicator",
    "ProfileDeviation",
    "Rolling",
    "SameDayType",
    "SameHourOfWeek",
    "SeasonalDiff",
    "seasonal_lag",
]

_STATS = ("mean", "std", "min", "max")
_HOUR_NS = 3_600_000_000_000


def seasonal_lag(season: int, lead: int) -> int:
    """Return the smallest multiple of ``season`` that is at least ``lead``.

    Parameters
    ----------
    season : int
        Season length in hours (e.g. 24 or 168).
    lead : int
        ``horizon + delay`` in hours.

    Returns
    -------
    int
        ``k * season`` with the smallest ``k >= 1`` such that ``k * season >= lead``.

    Examples
    --------
    >>> seasonal_lag(168, 1), seasonal_lag(24, 30)
    (168, 48)
    """
    if season < 1 or lead < 0:
        raise ConfigurationError(f"season must be >= 1 and lead >= 0, got {season}, {lead}")
    return max(1, -(-lead // season)) * season


def _lag_or_lead(lag: int | None, lead: int) -> int:
    return lead if lag is None else int(lag)


@dataclass(frozen=True)
class _Builder:
    """Shared behaviour of history builders (not public)."""

    kind: ClassVar[str] = ""
    column: str = "flow"

    def names(self, lead: int) -> list[str]:
        """Return the names of the columns made for this lead."""
        return [name for name, _ in self._plan(lead)]

    def units(self, lead: int) -> dict[str, str | None]:
        """Map every produced column to the series whose unit it carries (None: unitless)."""
        return dict(self._plan(lead))

    def required_columns(self) -> tuple[str, ...]:
        """Panel columns this builder reads."""
        return (self.column,)

    def _plan(self, lead: int) -> list[tuple[str, str | None]]:
        raise NotImplementedError

    def lookback(self, lead: int) -> int | None:
        """Return how many hours before a target hour its values can reach (None: unbounded).

        Building the features of targets ``t >= t0`` from the panel cut to the rows with
        ``time >= t0 - lookback(lead)`` gives exactly the values built from the whole panel.
        """
        raise NotImplementedError

    def compute(self, view: HistoryView) -> Iterator[tuple[str, F64]]:
        """Yield ``(name, (n_arcs, n_hours) array)`` pairs."""
        raise NotImplementedError


@dataclass(frozen=True)
class Lags(_Builder):
    """Values ``lag`` hours before the target: ``{column}_lag{k}``.

    Parameters
    ----------
    column : str, default "flow"
        Panel column (``flow`` or ``occupancy``).
    lags : tuple of int, default (1, 2, 3)
        Hours back from the target hour; each must be >= the lead.

    Examples
    --------
    >>> Lags("occupancy", lags=(1, 168)).names(lead=1)
    ['occupancy_lag1', 'occupancy_lag168']
    """

    kind: ClassVar[str] = "lags"
    lags: tuple[int, ...] = (1, 2, 3)

    def _plan(self, lead: int) -> list[tuple[str, str | None]]:
        return [(f"{self.column}_lag{int(k)}", self.column) for k in self.lags]

    def lookback(self, lead: int) -> int | None:
        """Return the largest lag."""
        return max((int(k) for k in self.lags), default=0)

    def compute(self, view: HistoryView) -> Iterator[tuple[str, F64]]:
        """Yield the lagged series."""
        for k in self.lags:
            yield f"{self.column}_lag{int(k)}", view.lagged(self.column, int(k))


@dataclass(frozen=True)
class LastValue(_Builder):
    """Last non-missing value at or before ``t - lag`` and its age in hours.

    Makes ``{column}_last_lag{L}`` and, with ``age=True``, ``{column}_age_lag{L}`` (hours between
    ``t - L`` and that value; NaN when the arc has no value yet).

    Parameters
    ----------
    column : str, default "flow"
        Panel column.
    lag : int, optional
        Defaults to the lead.
    age : bool, default True
        Also make the age column.
    max_age : int, optional
        Ignore values older than this many hours (NaN instead).

    Examples
    --------
    >>> LastValue().names(lead=2)
    ['flow_last_lag2', 'flow_age_lag2']
    """

    kind: ClassVar[str] = "last_value"
    lag: int | None = None
    age: bool = True
    max_age: int | None = None

    def _plan(self, lead: int) -> list[tuple[str, str | None]]:
        lag = _lag_or_lead(self.lag, lead)
        out: list[tuple[str, str | None]] = [(f"{self.column}_last_lag{lag}", self.column)]
        if self.age:
            out.append((f"{self.column}_age_lag{lag}", None))
        return out

    def lookback(self, lead: int) -> int | None:
        """``lag + max_age``; None (the whole history) without ``max_age``."""
        if self.max_age is None:
            return None
        return _lag_or_lead(self.lag, lead) + int(self.max_age)

    def compute(self, view: HistoryView) -> Iterator[tuple[str, F64]]:
        """Yield the forward-filled series (and its age)."""
        lag = _lag_or_lead(self.lag, view.lead)
        if view.columns is None:
            s = view.lagged(self.column, lag)
            n_arcs, n_hours = s.shape
            cols = np.arange(n_hours)
            idx = np.where(np.isnan(s), -1, cols[None, :])
            np.maximum.accumulate(idx, axis=1, out=idx)
            rows = np.arange(n_arcs)[:, None]
            last = s[rows, np.maximum(idx, 0)]
            age = (cols[None, :] - idx).astype(np.float64)
            missing = idx < 0
        else:
            last, age, missing = self._last_at(view, lag)
        if self.max_age is not None:
            missing |= age > self.max_age
        last[missing] = np.nan
        age[missing] = np.nan
        yield f"{self.column}_last_lag{lag}", last
        if self.age:
            yield f"{self.column}_age_lag{lag}", age

    def _last_at(self, view: HistoryView, lag: int) -> tuple[F64, F64, NDArray[np.bool_]]:
        """Return the last value, its age and whether it is missing, at the output columns."""
        values, idx = view.series(self.column, lag)
        n_arcs = values.shape[0]
        last = np.full(view.shape, np.nan)
        age = np.full(view.shape, np.nan)
        missing = np.ones(view.shape, dtype=bool)
        for j, end in enumerate((idx - int(lag)).tolist()):
            lo = 0 if self.max_age is None else max(end - int(self.max_age), 0)
            cols = values[:, lo : max(end + 1, 0)]
            if cols.shape[1] == 0:
                continue
            known = ~np.isnan(cols)
            found = known.any(axis=1)
            pos = cols.shape[1] - 1 - np.argmax(known[:, ::-1], axis=1)
            rows = np.arange(n_arcs)
            last[found, j] = cols[rows[found], pos[found]]
            age[found, j] = (end - lo - pos[found]).astype(np.float64)
            missing[found, j] = False
        return last, age, missing


@dataclass(frozen=True)
class Rolling(_Builder):
    """Rolling statistics over the ``window`` hours ending at ``t - lag``.

    Makes ``{column}_rolling_{stat}_lag{L}_window{w}`` for each stat and window. Missing values
    are skipped; a window with fewer than ``min_periods`` values gives NaN.

    Parameters
    ----------
    column : str, default "flow"
        Panel column.
    windows : tuple of int, default (24,)
        Window lengths in hours.
    stats : tuple of str, default ("mean",)
        Among ``mean``, ``std``, ``min``, ``max``.
    lag : int, optional
        Newest hour of the window, back from the target; defaults to the lead.
    min_periods : int, default 1
        Minimum number of values in a window.

    Examples
    --------
    >>> Rolling(windows=(24,), stats=("mean", "max")).names(lead=1)
    ['flow_rolling_mean_lag1_window24', 'flow_rolling_max_lag1_window24']
    """

    kind: ClassVar[str] = "rolling"
    windows: tuple[int, ...] = (24,)
    stats: tuple[str, ...] = ("mean",)
    lag: int | None = None
    min_periods: int = 1

    def __post_init__(self) -> None:
        bad = [s for s in self.stats if s not in _STATS]
        if bad:
            raise ConfigurationError(f"unknown rolling stat(s) {bad}; use {list(_STATS)}")
        if any(int(w) < 1 for w in self.windows):
            raise ConfigurationError(f"rolling windows must be >= 1 hour, got {self.windows}")

    def _plan(self, lead: int) -> list[tuple[str, str | None]]:
        lag = _lag_or_lead(self.lag, lead)
        return [
            (f"{self.column}_rolling_{st}_lag{lag}_window{int(w)}", self.column)
            for w in self.windows
            for st in self.stats
        ]

    def lookback(self, lead: int) -> int | None:
        """``lag + window - 1`` for the longest window."""
        return _lag_or_lead(self.lag, lead) + max((int(w) for w in self.windows), default=1) - 1

    def compute(self, view: HistoryView) -> Iterator[tuple[str, F64]]:
        """Yield the rolling statistics."""
        lag = _lag_or_lead(self.lag, view.lead)
        squares = "std" in self.stats
        for w in (int(w) for w in self.windows):
            cnt, sm, sq = window_sums(view, self.column, lag, w, squares=squares)
            ok = cnt >= max(1, self.min_periods)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(ok, sm / cnt, np.nan)
            for st in self.stats:
                name = f"{self.column}_rolling_{st}_lag{lag}_window{w}"
                if st == "mean":
                    yield name, mean
                elif st == "std" and sq is not None:
                    with np.errstate(invalid="ignore", divide="ignore"):
                        var = (sq - cnt * mean * mean) / (cnt - 1)
                    yield name, np.where(ok & (cnt > 1), np.sqrt(np.maximum(var, 0.0)), np.nan)
                else:
                    yield name, window_extreme(view, self.column, lag, w, st, self.min_periods)


@dataclass(frozen=True)
class SameHourOfWeek(_Builder):
    """Mean of the same hour of the week over the last ``weeks`` weeks.

    Uses the values at ``t - k0``, ``t - k0 - 168``, ... with ``k0`` the smallest multiple of
    168 h that is >= the lead; makes ``{column}_how_mean_lag{k0}_weeks{N}``.

    Parameters
    ----------
    column : str, default "flow"
        Panel column.
    weeks : tuple of int, default (4,)
        Numbers of weeks to average (one column each).
    min_periods : int, default 1
        Minimum number of weeks with a value.

    Examples
    --------
    >>> SameHourOfWeek(weeks=(4,)).names(lead=1)
    ['flow_how_mean_lag168_weeks4']
    """

    kind: ClassVar[str] = "same_hour_of_week"
    weeks: tuple[int, ...] = (4,)
    min_periods: int = 1

    def _plan(self, lead: int) -> list[tuple[str, str | None]]:
        k0 = seasonal_lag(168, lead)
        return [(f"{self.column}_how_mean_lag{k0}_weeks{int(n)}", self.column) for n in self.weeks]

    def lookback(self, lead: int) -> int | None:
        """``k0 + 168 * (weeks - 1)`` for the most weeks."""
        n_max = max((int(n) for n in self.weeks), default=1)
        return seasonal_lag(168, lead) + 168 * (n_max - 1)

    def compute(self, view: HistoryView) -> Iterator[tuple[str, F64]]:
        """Yield the weekly-profile means."""
        k0 = seasonal_lag(168, view.lead)
        n_max = max(int(n) for n in self.weeks)
        total = np.zeros(view.shape)
        count = np.zeros(view.shape)
        for i in range(n_max):
            s = view.lagged(self.column, k0 + 168 * i)
            ok = ~np.isnan(s)
            total += np.where(ok, s, 0.0)
            count += ok
            if i + 1 in {int(n) for n in self.weeks}:
                with np.errstate(invalid="ignore", divide="ignore"):
                    res = np.where(count >= max(1, self.min_periods), total / count, np.nan)
                yield f"{self.column}_how_mean_lag{k0}_weeks{i + 1}", res


@dataclass(frozen=True)
class SeasonalDiff(_Builder):
    """Change over one season and the seasonal value corrected by it.

    With ``L`` the lag (default: the lead) and ``K`` the smallest multiple of ``season`` >= the
    lead, makes ``{column}_sdiff_lag{L}_season{s}`` = ``y(t-L) - y(t-L-s)`` (how the recent
    hour compares with the same hour one season earlier) and ``{column}_sadj_lag{K}_season{s}``
    = ``y(t-K) + y(t-L) - y(t-L-s)`` (last season's value shifted by that change). With
    ``multiplicative=True`` also ``{column}_smul_lag{K}_season{s}`` = ``y(t-K) * y(t-L) /
    y(t-L-s)`` (scaled by the relative change instead, which suits quiet hours, where an
    absolute change overshoots; NaN when ``y(t-L-s) <= 0``).

    Parameters
    ----------
    column : str, default "flow"
        Panel column.
    season : int, default 168
        Season length in hours.
    lag : int, optional
        Defaults to the lead.
    multiplicative : bool, default False
        Also make the multiplicatively corrected seasonal value.

    Examples
    --------
    >>> SeasonalDiff().names(lead=1)
    ['flow_sdiff_lag1_season168', 'flow_sadj_lag168_season168']
    >>> SeasonalDiff(season=24, multiplicative=True).names(lead=1)[-1]
    'flow_smul_lag24_season24'
    """

    kind: ClassVar[str] = "seasonal_diff"
    season: int = 168
    lag: int | None = None
    multiplicative: bool = False

    def _plan(self, lead: int) -> list[tuple[str, str | None]]:
        lag = _lag_or_lead(self.lag, lead)
        k = seasonal_lag(self.season, lead)
        out: list[tuple[str, str | None]] = [
            (f"{self.column}_sdiff_lag{lag}_season{self.season}", self.column),
            (f"{self.column}_sadj_lag{k}_season{self.season}", self.column),
        ]
        if self.multiplicative:
            out.append((f"{self.column}_smul_lag{k}_season{self.season}", self.column))
        return out

    def lookback(self, lead: int) -> int | None:
        """``max(lag + season, K)``."""
        lag = _lag_or_lead(self.lag, lead)
        return max(lag + int(self.season), seasonal_lag(self.season, lead))

    def compute(self, view: HistoryView) -> Iterator[tuple[str, F64]]:
        """Yield the seasonal difference and the adjusted seasonal value."""
        lag = _lag_or_lead(self.lag, view.lead)
        k = seasonal_lag(self.season, view.lead)
        recent = view.lagged(self.column, lag)
        before = view.lagged(self.column, lag + self.season)
        last_season = view.lagged(self.column, k)
        diff = recent - before
        yield f"{self.column}_sdiff_lag{lag}_season{self.season}", diff
        yield f"{self.column}_sadj_lag{k}_season{self.season}", last_season + diff
        if self.multiplicative:
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.where(before > 0, recent / before, np.nan)
            yield f"{self.column}_smul_lag{k}_season{self.season}", last_season * ratio


@dataclass(frozen=True)
class SameDayType(_Builder):
    """Same hour on the last days of the same type, and that profile scaled by the recent change.

    Day types are those of :func:`~infotrafic.features.day_types`: working day, Saturday, and
    Sunday or public holiday. For a target hour ``t``, the candidate days are ``K = 24 k`` hours
    back (``K`` >= the lead, ``k <= max_days``); those whose day has the type of ``t``'s day are
    the *same-type days*, most recent first: a Monday looks back to Friday, a Tuesday to Monday,
    a Saturday to the previous Saturdays, a public holiday to the last Sunday or holiday. Unlike
    ``flow_lag24``, which on a Monday reads a Sunday, and unlike the same hour of the last weeks
    (one value a week), ``n`` working days are found within about ``n`` days.

    For every ``n`` in ``days`` and with ``L`` the lag (default: the lead), makes

    - ``{column}_daytype_days{n}_max{D}``: the mean of ``y(t-K)`` over the ``n`` most recent
      same-type days (missing values skipped; NaN when none is known);
    - ``{column}_daytype_mul_lag{L}_days{n}_max{D}``: ``a * y(t-L) / b``, where ``a`` and ``b``
      are the means of ``y(t-K)`` and ``y(t-L-K)`` over those of the ``n`` days where both are
      known (NaN when ``b <= 0``): the profile scaled by how the last known hour compares with
      the same hour of those days.

    Parameters
    ----------
    column : str, default "flow"
        Panel column.
    days : tuple of int, default (1, 5)
        Numbers of same-type days averaged.
    max_days : int, default 35
        Look at most this many days back (five weeks: five Saturdays).
    lag : int, optional
        Defaults to the lead.

    Examples
    --------
    >>> SameDayType(days=(1,), max_days=7).names(lead=1)
    ['flow_daytype_days1_max7', 'flow_daytype_mul_lag1_days1_max7']
    """

    kind: ClassVar[str] = "same_day_type"
    days: tuple[int, ...] = (1, 5)
    max_days: int = 35
    lag: int | None = None

    def __post_init__(self) -> None:
        if int(self.max_days) < 1 or not self.days or min(int(n) for n in self.days) < 1:
            raise ConfigurationError(
                f"days must be a non-empty tuple of integers >= 1 and max_days >= 1, "
                f"got days={self.days}, max_days={self.max_days}"
            )

    def _plan(self, lead: int) -> list[tuple[str, str | None]]:
        lag = _lag_or_lead(self.lag, lead)
        d = int(self.max_days)
        out: list[tuple[str, str | None]] = []
        for n in (int(n) for n in self.days):
            out.append((f"{self.column}_daytype_days{n}_max{d}", self.column))
            out.append((f"{self.column}_daytype_mul_lag{lag}_days{n}_max{d}", self.column))
        return out

    def lookback(self, lead: int) -> int | None:
        """``lag + 24 * max_days``."""
        return _lag_or_lead(self.lag, lead) + 24 * int(self.max_days)

    def compute(self, view: HistoryView) -> Iterator[tuple[str, F64]]:
        """Yield the same-type means and their multiplicatively corrected forms."""
        lag = _lag_or_lead(self.lag, view.lead)
        times = view.times
        target = day_types(times)
        counts = sorted({int(n) for n in self.days})
        found = np.zeros(len(times), dtype=np.int64)  # same-type days met so far, per hour
        # per n: sum and count of y(t-K); sum of y(t-K) and y(t-L-K) where both are known
        acc = {n: [np.zeros(view.shape) for _ in range(5)] for n in counts}
        ks = list(range(max(1, -(-view.lead // 24)), int(self.max_days) + 1))
        # the day type of every candidate day at once (one calendar lookup)
        back = (
            np.asarray(times.as_unit("ns").asi8)[None, :] - np.asarray(ks)[:, None] * 24 * _HOUR_NS
        )
        types = day_types(pd.DatetimeIndex(back.ravel(), tz="UTC")).reshape(back.shape)
        for i, k in enumerate(ks):
            same = types[i] == target
            same &= found < counts[-1]
            if not same.any():
                continue
            hours = np.flatnonzero(same)
            value = view.lagged_at(self.column, 24 * k, hours)
            before = view.lagged_at(self.column, lag + 24 * k, hours)
            both = ~np.isnan(value) & ~np.isnan(before)
            for n in counts:
                pick = found[hours] < n
                cols = hours[pick]
                if len(cols) == 0:
                    continue
                v, b, ok = value[:, pick], before[:, pick], both[:, pick]
                s_v, c_v, s_a, s_b, c_ab = acc[n]
                s_v[:, cols] += np.nan_to_num(v)
                c_v[:, cols] += ~np.isnan(v)
                s_a[:, cols] += np.where(ok, v, 0.0)
                s_b[:, cols] += np.where(ok, b, 0.0)
                c_ab[:, cols] += ok
            found += same
        recent = view.lagged(self.column, lag)
        d = int(self.max_days)
        for n in (int(n) for n in self.days):
            s_v, c_v, s_a, s_b, c_ab = acc[n]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(c_v > 0, s_v / c_v, np.nan)
                ratio = np.where((c_ab > 0) & (s_b > 0), recent * s_a / s_b, np.nan)
            yield f"{self.column}_daytype_days{n}_max{d}", mean
            yield f"{self.column}_daytype_mul_lag{lag}_days{n}_max{d}", ratio


@dataclass(frozen=True)
class EWM(_Builder):
    """Exponentially weighted mean of the series up to ``t - lag``.

    Makes ``{column}_ewm_lag{L}_halflife{h}``; missing values are skipped (weights decay with
    time, not with the number of observations).

    Parameters
    ----------
    column : str, default "flow"
        Panel column.
    halflives : tuple of int, default (24,)
        Half-lives in hours.
    lag : int, optional
        Defaults to the lead.

    Examples
    --------
    >>> EWM(halflives=(6, 24)).names(lead=1)
    ['flow_ewm_lag1_halflife6', 'flow_ewm_lag1_halflife24']
    """

    kind: ClassVar[str] = "ewm"
    halflives: tuple[int, ...] = (24,)
    lag: int | None = None

    def _plan(self, lead: int) -> list[tuple[str, str | None]]:
        lag = _lag_or_lead(self.lag, lead)
        return [
            (f"{self.column}_ewm_lag{lag}_halflife{int(h)}", self.column) for h in self.halflives
        ]

    def lookback(self, lead: int) -> int | None:
        """None: the mean weighs the whole history (older values only fade).

        A panel cut ``h`` hours before a target therefore changes its value, by a relative
        amount of the order of ``0.5 ** (h / halflife)``.
        """
        return None

    def compute(self, view: HistoryView) -> Iterator[tuple[str, F64]]:
        """Yield the exponentially weighted means."""
        lag = _lag_or_lead(self.lag, view.lead)
        values, idx = view.series(self.column, lag)
        s = shift(values, lag)[:, : int(idx.max()) + 1 if len(idx) else 0]
        valid = ~np.isnan(s)
        x = np.where(valid, s, 0.0)
        for h in (int(h) for h in self.halflives):
            alpha = 1.0 - 0.5 ** (1.0 / h)
            num = np.zeros(s.shape)
            den = np.zeros(s.shape)
            acc_n = np.zeros(s.shape[0])
            acc_d = np.zeros(s.shape[0])
            for j in range(s.shape[1]):
                acc_n = (1.0 - alpha) * acc_n + alpha * x[:, j]
                acc_d = (1.0 - alpha) * acc_d + alpha * valid[:, j]
                num[:, j] = acc_n
                den[:, j] = acc_d
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(den > 1e-12, num / den, np.nan)
            yield f"{self.column}_ewm_lag{lag}_halflife{h}", mean[:, idx]


@dataclass(frozen=True)
class MissingIndicator(_Builder):
    """Whether the value at ``t - lag`` is missing, and the missing share over a window.

    Makes ``{column}_missing_lag{L}`` (1.0 / 0.0) and ``{column}_missing_share_lag{L}_window{w}``.

    Parameters
    ----------
    column : str, default "flow"
        Panel column.
    window : int, default 24
        Window for the missing share.
    lag : int, optional
        Defaults to the lead.

    Examples
    --------
    >>> MissingIndicator().names(lead=1)
    ['flow_missing_lag1', 'flow_missing_share_lag1_window24']
    """

    kind: ClassVar[str] = "missing"
    window: int = 24
    lag: int | None = None

    def _plan(self, lead: int) -> list[tuple[str, str | None]]:
        lag = _lag_or_lead(self.lag, lead)
        return [
            (f"{self.column}_missing_lag{lag}", None),
            (f"{self.column}_missing_share_lag{lag}_window{self.window}", None),
        ]

    def lookback(self, lead: int) -> int | None:
        """``lag + window - 1``."""
        return _lag_or_lead(self.lag, lead) + int(self.window) - 1

    def compute(self, view: HistoryView) -> Iterator[tuple[str, F64]]:
        """Yield the indicator and the share."""
        lag = _lag_or_lead(self.lag, view.lead)
        s = view.lagged(self.column, lag)
        miss = np.isnan(s).astype(np.float64)
        yield f"{self.column}_missing_lag{lag}", miss
        cnt, _, _ = window_sums(view, self.column, lag, int(self.window))
        yield f"{self.column}_missing_share_lag{lag}_window{self.window}", 1.0 - cnt / self.window


@dataclass(frozen=True)
class ProfileDeviation(_Builder):
    """Deviation of recent hours from the arc's weekly profile, and the profile corrected by it.

    The profile of an hour is the mean of the same hour of the week over the previous ``weeks``
    weeks. With ``L`` the lead and ``K`` the smallest multiple of 168 h >= the lead, makes:

    * ``{column}_profdev_lag{L}_hours{n}``: mean over the ``n`` hours ending at ``t - L`` of
      ``y(h) - profile(h)`` (how unusual the recent traffic is);
    * ``{column}_profadj_lag{K}_weeks{w}_hours{n}``: ``profile(t) + profdev`` (the usual level
      of the target hour shifted by the recent deviation);
    * ``{column}_profratio_lag{L}_hours{n}``: ``sum y / sum profile`` over the same hours;
    * with ``multiplicative=True``, ``{column}_profmul_lag{K}_weeks{w}_hours{n}``:
      ``profile(t) * profratio`` (the usual level scaled by the recent ratio rather than
      shifted by the recent difference).

    Parameters
    ----------
    column : str, default "flow"
        Panel column.
    weeks : int, default 4
        Weeks in the profile.
    hours : tuple of int, default (1, 3)
        Lengths of the recent window.
    multiplicative : bool, default False
        Also make the multiplicatively corrected profiles.

    Examples
    --------
    >>> ProfileDeviation(hours=(3,)).names(lead=1)
    ['flow_profdev_lag1_hours3', 'flow_profadj_lag168_weeks4_hours3', 'flow_profratio_lag1_hours3']
    """

    kind: ClassVar[str] = "profile_deviation"
    weeks: int = 4
    hours: tuple[int, ...] = (1, 3)
    multiplicative: bool = False

    def _plan(self, lead: int) -> list[tuple[str, str | None]]:
        k = seasonal_lag(168, lead)
        out: list[tuple[str, str | None]] = []
        for n in self.hours:
            out += [
                (f"{self.column}_profdev_lag{lead}_hours{int(n)}", self.column),
                (f"{self.column}_profadj_lag{k}_weeks{self.weeks}_hours{int(n)}", self.column),
                (f"{self.column}_profratio_lag{lead}_hours{int(n)}", None),
            ]
            if self.multiplicative:
                out.append(
                    (f"{self.column}_profmul_lag{k}_weeks{self.weeks}_hours{int(n)}", self.column)
                )
        return out

    def lookback(self, lead: int) -> int | None:
        """``lead + max(hours) - 1 + 168 * weeks`` (the oldest profile hour of the window)."""
        n_max = max((int(n) for n in self.hours), default=1)
        recent = lead + n_max - 1 + 168 * int(self.weeks)
        return max(recent, seasonal_lag(168, lead) + 168 * (int(self.weeks) - 1))

    def _profile(self, view: HistoryView, first_lag: int) -> F64:
        total = np.zeros(view.shape)
        count = np.zeros(view.shape)
        for i in range(int(self.weeks)):
            s = view.lagged(self.column, first_lag + 168 * i)
            ok = ~np.isnan(s)
            total += np.where(ok, s, 0.0)
            count += ok
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / count, np.nan)

    def compute(self, view: HistoryView) -> Iterator[tuple[str, F64]]:
        """Yield deviations, corrected profiles and ratios."""
        lead = view.lead
        k = seasonal_lag(168, lead)
        target_profile = self._profile(view, k)
        n_max = max(int(n) for n in self.hours)
        dev_sum = np.zeros(view.shape)
        y_sum = np.zeros(view.shape)
        p_sum = np.zeros(view.shape)
        count = np.zeros(view.shape)
        for j in range(n_max):
            y = view.lagged(self.column, lead + j)
            prof = self._profile(view, lead + j + 168)  # the profile of hour t - lead - j
            ok = ~np.isnan(y) & ~np.isnan(prof)
            dev_sum += np.where(ok, y - prof, 0.0)
            y_sum += np.where(ok, y, 0.0)
            p_sum += np.where(ok, prof, 0.0)
            count += ok
            n = j + 1
            if n in {int(h) for h in self.hours}:
                with np.errstate(invalid="ignore", divide="ignore"):
                    dev = np.where(count > 0, dev_sum / count, np.nan)
                    ratio = np.where((count > 0) & (p_sum > 0), y_sum / p_sum, np.nan)
                yield f"{self.column}_profdev_lag{lead}_hours{n}", dev
                yield (
                    f"{self.column}_profadj_lag{k}_weeks{self.weeks}_hours{n}",
                    target_profile + dev,
                )
                yield f"{self.column}_profratio_lag{lead}_hours{n}", ratio
                if self.multiplicative:
                    yield (
                        f"{self.column}_profmul_lag{k}_weeks{self.weeks}_hours{n}",
                        target_profile * ratio,
                    )
