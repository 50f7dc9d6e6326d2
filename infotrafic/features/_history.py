"""Builders of history features: lags, last value, rolling statistics, EWM, missing values.

Every builder reads the series through :class:`~infotrafic.features.HistoryView`, which refuses
any lag below the lead; the names of the columns it makes state the lag actually used, e.g.
``flow_lag1`` or ``flow_rolling_mean_lag1_window24``. Lags are counted in hours back from the
target hour ``t`` (so ``flow_lag168`` is the same hour one week earlier). Parameters left to
``None`` default to the lead (the most recent usable value). Each builder writes a column name in
one method only; ``columns(lead)`` lists them and ``compute`` yields its values keyed by them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from infotrafic.exceptions import ConfigurationError
from infotrafic.features._grid import F64, HistoryView, shift
from infotrafic.features._registry import Column, NamedColumns, register_builder
from infotrafic.features._windows import window_extreme, window_sums

__all__ = [
    "EWM",
    "HistoryBuilder",
    "Lags",
    "LastValue",
    "MissingIndicator",
    "Rolling",
    "lag_column",
    "last_value_column",
    "lag_or_lead",
    "seasonal_lag",
]

_STATS = ("mean", "std", "min", "max")


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


def lag_or_lead(lag: int | None, lead: int) -> int:
    """Return ``lag``, or the lead when it is None (the most recent usable hour)."""
    return lead if lag is None else int(lag)


@dataclass(frozen=True)
class HistoryBuilder(NamedColumns):
    """Shared behaviour of the builders reading one panel column (not public)."""

    kind: ClassVar[str] = ""
    column: str = "flow"

    def required_columns(self) -> tuple[str, ...]:
        """Panel columns this builder reads."""
        return (self.column,)

    def _spec(self, name: str, lag: int, *, unitless: bool = False) -> Column:
        """Return the spec of a column named ``name`` whose newest value is ``lag`` hours old."""
        return Column(name, None if unitless else self.column, lag=int(lag), source=self.column)

    @classmethod
    def examples(cls, lead: int) -> tuple[Self, ...]:
        """Return the instances the generated lookback and leakage tests check at ``lead``."""
        return (cls(),)

    def lookback(self, lead: int) -> int | None:
        """Return how many hours before a target hour its values can reach (None: unbounded).

        Building the features of targets ``t >= t0`` from the panel cut to the rows with
        ``time >= t0 - lookback(lead)`` gives exactly the values built from the whole panel.
        """
        raise NotImplementedError

    def compute(self, view: HistoryView) -> Iterator[tuple[Column, F64]]:
        """Yield ``(column, (n_arcs, n_hours) array)`` pairs."""
        raise NotImplementedError


@register_builder
@dataclass(frozen=True)
class Lags(HistoryBuilder):
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

    def columns(self, lead: int) -> tuple[Column, ...]:
        """Return one column per lag."""
        return tuple(self._spec(f"{self.column}_lag{int(k)}", int(k)) for k in self.lags)

    @classmethod
    def examples(cls, lead: int) -> tuple[Self, ...]:
        """Return lags at the lead, next to it and a week on, and a second series."""
        return (cls(lags=(lead, lead + 1, 168 + lead)), cls("occupancy", lags=(lead + 2,)))

    def lookback(self, lead: int) -> int | None:
        """Return the largest lag."""
        return max((int(k) for k in self.lags), default=0)

    def compute(self, view: HistoryView) -> Iterator[tuple[Column, F64]]:
        """Yield the lagged series."""
        for k, col in zip(self.lags, self.columns(view.lead), strict=True):
            yield col, view.lagged(self.column, int(k))


@register_builder
@dataclass(frozen=True)
class LastValue(HistoryBuilder):
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

    def columns(self, lead: int) -> tuple[Column, ...]:
        """Return the last value and, with ``age``, its age."""
        lag = lag_or_lead(self.lag, lead)
        last = self._spec(f"{self.column}_last_lag{lag}", lag)
        if not self.age:
            return (last,)
        return (last, self._spec(f"{self.column}_age_lag{lag}", lag, unitless=True))

    @classmethod
    def examples(cls, lead: int) -> tuple[Self, ...]:
        """Return unbounded and bounded ages, an explicit lag and no age column."""
        return (
            cls(),
            cls(max_age=30),
            cls("occupancy", max_age=3),
            cls("occupancy", lag=lead + 4, max_age=3, age=False),
        )

    def lookback(self, lead: int) -> int | None:
        """``lag + max_age``; None (the whole history) without ``max_age``."""
        if self.max_age is None:
            return None
        return lag_or_lead(self.lag, lead) + int(self.max_age)

    def compute(self, view: HistoryView) -> Iterator[tuple[Column, F64]]:
        """Yield the forward-filled series (and its age)."""
        lag = lag_or_lead(self.lag, view.lead)
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
        columns = self.columns(view.lead)
        yield columns[0], last
        if self.age:
            yield columns[1], age

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


@register_builder
@dataclass(frozen=True)
class Rolling(HistoryBuilder):
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

    def _stat(self, stat: str, lag: int, window: int) -> Column:
        return self._spec(f"{self.column}_rolling_{stat}_lag{lag}_window{window}", lag)

    def columns(self, lead: int) -> tuple[Column, ...]:
        """Return one column per window and statistic (statistics vary fastest)."""
        lag = lag_or_lead(self.lag, lead)
        return tuple(self._stat(st, lag, int(w)) for w in self.windows for st in self.stats)

    @classmethod
    def examples(cls, lead: int) -> tuple[Self, ...]:
        """Return every statistic over short and long windows, and an explicit lag."""
        return (
            cls(windows=(3, 24, 168), stats=_STATS, min_periods=2),
            cls("occupancy", windows=(6,)),
            cls("occupancy", windows=(7,), lag=lead + 3),
        )

    def lookback(self, lead: int) -> int | None:
        """``lag + window - 1`` for the longest window."""
        return lag_or_lead(self.lag, lead) + max((int(w) for w in self.windows), default=1) - 1

    def compute(self, view: HistoryView) -> Iterator[tuple[Column, F64]]:
        """Yield the rolling statistics."""
        lag = lag_or_lead(self.lag, view.lead)
        squares = "std" in self.stats
        for w in (int(w) for w in self.windows):
            cnt, sm, sq = window_sums(view, self.column, lag, w, squares=squares)
            ok = cnt >= max(1, self.min_periods)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(ok, sm / cnt, np.nan)
            for st in self.stats:
                name = self._stat(st, lag, w)
                if st == "mean":
                    yield name, mean
                elif st == "std" and sq is not None:
                    with np.errstate(invalid="ignore", divide="ignore"):
                        var = (sq - cnt * mean * mean) / (cnt - 1)
                    yield name, np.where(ok & (cnt > 1), np.sqrt(np.maximum(var, 0.0)), np.nan)
                else:
                    yield name, window_extreme(view, self.column, lag, w, st, self.min_periods)


@register_builder
@dataclass(frozen=True)
class EWM(HistoryBuilder):
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

    def _mean(self, lag: int, halflife: int) -> Column:
        return self._spec(f"{self.column}_ewm_lag{lag}_halflife{halflife}", lag)

    def columns(self, lead: int) -> tuple[Column, ...]:
        """Return one column per half-life."""
        lag = lag_or_lead(self.lag, lead)
        return tuple(self._mean(lag, int(h)) for h in self.halflives)

    @classmethod
    def examples(cls, lead: int) -> tuple[Self, ...]:
        """Return two half-lives, and an explicit lag."""
        return (cls(halflives=(4, 24)), cls("occupancy", halflives=(6,), lag=lead + 1))

    def lookback(self, lead: int) -> int | None:
        """None: the mean weighs the whole history (older values only fade).

        A panel cut ``h`` hours before a target therefore changes its value, by a relative
        amount of the order of ``0.5 ** (h / halflife)``.
        """
        return None

    def compute(self, view: HistoryView) -> Iterator[tuple[Column, F64]]:
        """Yield the exponentially weighted means."""
        lag = lag_or_lead(self.lag, view.lead)
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
            yield self._mean(lag, h), mean[:, idx]


@register_builder
@dataclass(frozen=True)
class MissingIndicator(HistoryBuilder):
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

    def columns(self, lead: int) -> tuple[Column, ...]:
        """Return the indicator and the missing share (unitless)."""
        lag = lag_or_lead(self.lag, lead)
        return (
            self._spec(f"{self.column}_missing_lag{lag}", lag, unitless=True),
            self._spec(
                f"{self.column}_missing_share_lag{lag}_window{self.window}", lag, unitless=True
            ),
        )

    @classmethod
    def examples(cls, lead: int) -> tuple[Self, ...]:
        """Return a long and a short window, and an explicit lag."""
        return (cls(window=13), cls("occupancy", window=5, lag=lead + 2))

    def lookback(self, lead: int) -> int | None:
        """``lag + window - 1``."""
        return lag_or_lead(self.lag, lead) + int(self.window) - 1

    def compute(self, view: HistoryView) -> Iterator[tuple[Column, F64]]:
        """Yield the indicator and the share."""
        lag = lag_or_lead(self.lag, view.lead)
        s = view.lagged(self.column, lag)
        miss = np.isnan(s).astype(np.float64)
        indicator, share = self.columns(view.lead)
        yield indicator, miss
        cnt, _, _ = window_sums(view, self.column, lag, int(self.window))
        yield share, 1.0 - cnt / self.window


def lag_column(column: str, lag: int) -> str:
    """Return the name of the lag feature of ``column`` ``lag`` hours back (as :class:`Lags`).

    Parameters
    ----------
    column : str
        Panel column (``"flow"`` or ``"occupancy"``).
    lag : int
        Hours back from the target hour.

    Returns
    -------
    str

    Examples
    --------
    >>> lag_column("flow", 168)
    'flow_lag168'
    """
    return Lags(column, lags=(int(lag),)).columns(int(lag))[0].name


def last_value_column(column: str, lag: int) -> str:
    """Return the name :class:`LastValue` gives the last ``column`` value known at ``t - lag``.

    Forecasters anchor their change forms on it; like :func:`lag_column`, it asks the builder,
    so the name is written in one place only.

    Examples
    --------
    >>> last_value_column("occupancy", 2)
    'occupancy_last_lag2'
    """
    return LastValue(column, lag=int(lag), age=False).columns(int(lag))[0].name
