"""Seasonal and profile builders: the same hour of past weeks and days, and deviations from it.

Like every history builder they read the series through
:class:`~infotrafic.features.HistoryView` and name their columns after the lags actually used;
``K`` below is the smallest multiple of the season that is at least the lead (see
:func:`~infotrafic.features.seasonal_lag`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import pandas as pd

from infotrafic.exceptions import ConfigurationError
from infotrafic.features._calendar import day_types
from infotrafic.features._grid import F64, HistoryView
from infotrafic.features._history import HistoryBuilder, lag_or_lead, seasonal_lag
from infotrafic.features._registry import Column, register_builder

__all__ = ["ProfileDeviation", "SameDayType", "SameHourOfWeek", "SeasonalDiff"]

_HOUR_NS = 3_600_000_000_000


@register_builder
@dataclass(frozen=True)
class SameHourOfWeek(HistoryBuilder):
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

    def _mean(self, k0: int, weeks: int) -> Column:
        return self._spec(f"{self.column}_how_mean_lag{k0}_weeks{weeks}", k0)

    def columns(self, lead: int) -> tuple[Column, ...]:
        """Return one column per number of weeks."""
        k0 = seasonal_lag(168, lead)
        return tuple(self._mean(k0, int(n)) for n in self.weeks)

    @classmethod
    def examples(cls, lead: int) -> tuple[Self, ...]:
        """Return several numbers of weeks, one listed out of order."""
        return (cls(weeks=(1, 3)), cls("occupancy", weeks=(2, 1), min_periods=2))

    def lookback(self, lead: int) -> int | None:
        """``k0 + 168 * (weeks - 1)`` for the most weeks."""
        n_max = max((int(n) for n in self.weeks), default=1)
        return seasonal_lag(168, lead) + 168 * (n_max - 1)

    def compute(self, view: HistoryView) -> Iterator[tuple[Column, F64]]:
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
                yield self._mean(k0, i + 1), res


@register_builder
@dataclass(frozen=True)
class SeasonalDiff(HistoryBuilder):
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

    def columns(self, lead: int) -> tuple[Column, ...]:
        """Return the difference, the additive and (optionally) the multiplicative correction."""
        lag = lag_or_lead(self.lag, lead)
        k = seasonal_lag(self.season, lead)
        newest = min(lag, k)  # the corrected values read y(t - K) and y(t - L)
        out = [
            self._spec(f"{self.column}_sdiff_lag{lag}_season{self.season}", lag),
            self._spec(f"{self.column}_sadj_lag{k}_season{self.season}", newest),
        ]
        if self.multiplicative:
            out.append(self._spec(f"{self.column}_smul_lag{k}_season{self.season}", newest))
        return tuple(out)

    @classmethod
    def examples(cls, lead: int) -> tuple[Self, ...]:
        """Return a daily season, and a weekly one with an explicit lag and the ratio."""
        return (cls(season=24), cls(season=168, lag=lead + 1, multiplicative=True))

    def lookback(self, lead: int) -> int | None:
        """``max(lag + season, K)``."""
        lag = lag_or_lead(self.lag, lead)
        return max(lag + int(self.season), seasonal_lag(self.season, lead))

    def compute(self, view: HistoryView) -> Iterator[tuple[Column, F64]]:
        """Yield the seasonal difference and the adjusted seasonal value."""
        lag = lag_or_lead(self.lag, view.lead)
        k = seasonal_lag(self.season, view.lead)
        recent = view.lagged(self.column, lag)
        before = view.lagged(self.column, lag + self.season)
        last_season = view.lagged(self.column, k)
        diff = recent - before
        sdiff, sadj, *smul = self.columns(view.lead)
        yield sdiff, diff
        yield sadj, last_season + diff
        if self.multiplicative:
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.where(before > 0, recent / before, np.nan)
            yield smul[0], last_season * ratio


@register_builder
@dataclass(frozen=True)
class SameDayType(HistoryBuilder):
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

    def _pair(self, n: int, lead: int) -> tuple[Column, Column]:
        """Return the mean and the scaled mean over ``n`` same-type days."""
        lag = lag_or_lead(self.lag, lead)
        d, day = int(self.max_days), seasonal_lag(24, lead)  # the newest candidate day
        return (
            self._spec(f"{self.column}_daytype_days{n}_max{d}", day),
            self._spec(f"{self.column}_daytype_mul_lag{lag}_days{n}_max{d}", min(lag, day)),
        )

    def columns(self, lead: int) -> tuple[Column, ...]:
        """Return the mean and the scaled mean for every number of days."""
        return tuple(c for n in self.days for c in self._pair(int(n), lead))

    @classmethod
    def examples(cls, lead: int) -> tuple[Self, ...]:
        """Return the default, and a short look-back with an explicit lag."""
        return (cls(), cls("occupancy", days=(3, 1), max_days=4, lag=lead + 1))

    def lookback(self, lead: int) -> int | None:
        """``lag + 24 * max_days``."""
        return lag_or_lead(self.lag, lead) + 24 * int(self.max_days)

    def compute(self, view: HistoryView) -> Iterator[tuple[Column, F64]]:
        """Yield the same-type means and their multiplicatively corrected forms."""
        lag = lag_or_lead(self.lag, view.lead)
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
        for n in (int(n) for n in self.days):
            s_v, c_v, s_a, s_b, c_ab = acc[n]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(c_v > 0, s_v / c_v, np.nan)
                ratio = np.where((c_ab > 0) & (s_b > 0), recent * s_a / s_b, np.nan)
            mean_column, mul_column = self._pair(n, view.lead)
            yield mean_column, mean
            yield mul_column, ratio


@register_builder
@dataclass(frozen=True)
class ProfileDeviation(HistoryBuilder):
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

    def _group(self, n: int, lead: int) -> tuple[Column, ...]:
        """Return the columns of the window of ``n`` hours (each reads ``y(t - lead)``)."""
        k, w, c = seasonal_lag(168, lead), self.weeks, self.column
        out = [
            self._spec(f"{c}_profdev_lag{lead}_hours{n}", lead),
            self._spec(f"{c}_profadj_lag{k}_weeks{w}_hours{n}", lead),
            self._spec(f"{c}_profratio_lag{lead}_hours{n}", lead, unitless=True),
        ]
        if self.multiplicative:
            out.append(self._spec(f"{c}_profmul_lag{k}_weeks{w}_hours{n}", lead))
        return tuple(out)

    def columns(self, lead: int) -> tuple[Column, ...]:
        """Return the columns of every window length."""
        return tuple(c for n in self.hours for c in self._group(int(n), lead))

    @classmethod
    def examples(cls, lead: int) -> tuple[Self, ...]:
        """Return two weeks with the ratio forms, and one week on another series."""
        return (
            cls(weeks=2, hours=(1, 3), multiplicative=True),
            cls("occupancy", weeks=1, hours=(2,)),
        )

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

    def compute(self, view: HistoryView) -> Iterator[tuple[Column, F64]]:
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
                values = [dev, target_profile + dev, ratio]
                if self.multiplicative:
                    values.append(target_profile * ratio)
                yield from zip(self._group(n, lead), values, strict=True)
