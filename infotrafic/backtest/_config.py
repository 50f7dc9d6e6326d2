"""Backtest options and the rolling-origin schedule (pure date arithmetic).

Definitions used everywhere in :mod:`infotrafic.backtest` (all times are UTC instants; a panel
``time`` is the **end** of the counting hour):

* **targets** are the hours ``t`` with ``start <= t < end``, for each horizon;
* a forecast of ``t`` at horizon ``h`` is **issued** at ``t - h``; with a publication
  ``delay`` the newest data it may use is the hour ending at its **origin**
  ``t - h - delay`` (the predictions' ``origin`` column, mlforecast's ``cutoff``). The lead of a
  forecast is ``horizon + delay``;
* **cutoffs** are ``c_k = start + k * refit`` for every ``c_k < end``; the **block** of cutoff
  ``c_k`` holds the targets in ``[c_k, min(c_k + refit, end))``, all forecast by the model
  fitted at ``c_k`` (the predictions' ``fitted_at`` column);
* the model refit at cutoff ``c`` trains on the targets with ``time <= c - horizon - delay``
  (the data available at the earliest origin of the block), all of them with an expanding
  window, or only those in ``(c - horizon - delay - train_size, c - horizon - delay]`` with a
  sliding window.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import pandas as pd

from infotrafic import _defaults as defaults
from infotrafic._parallel import available_cores, check_n_jobs
from infotrafic._time import parse_user_time
from infotrafic._types import DurationLike, TimeLike
from infotrafic.exceptions import ConfigurationError
from infotrafic.intervals import check_levels

__all__ = ["BacktestConfig", "parse_duration", "parse_hours", "parse_time"]

#: The rule for every user-given time (naive = Paris wall clock; ambiguous or non-existent local
#: times refused, naming the candidate instants; on the hour): see :mod:`infotrafic._time`.
parse_time = parse_user_time

_HOUR = pd.Timedelta(hours=1)

Window = Literal["expanding", "sliding"]


def parse_duration(value: DurationLike, *, name: str = "duration") -> pd.Timedelta:
    """Turn a duration such as ``"7D"`` or ``"1h"`` into a whole, positive number of hours.

    Parameters
    ----------
    value : str, timedelta or pandas.Timedelta
        A pandas offset alias (``"1h"``, ``"7D"``, ``"365D"``) or a timedelta.
    name : str, default "duration"
        How to call the value in error messages.

    Returns
    -------
    pandas.Timedelta

    Raises
    ------
    ConfigurationError
        When the value is not a positive whole number of hours.

    Examples
    --------
    >>> parse_duration("7D")
    Timedelta('7 days 00:00:00')
    """
    try:
        td = pd.Timedelta(value)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"{name}: cannot read {value!r} as a duration (use e.g. '1h', '7D', '365D')"
        ) from exc
    if pd.isna(td) or td <= pd.Timedelta(0) or td % _HOUR != pd.Timedelta(0):
        raise ConfigurationError(f"{name}: {value!r} must be a positive whole number of hours")
    return td


def parse_hours(value: int | DurationLike, *, name: str = "hours", minimum: int = 0) -> int:
    """Read a number of hours given as an integer or a duration (``"1h"``).

    Parameters
    ----------
    value : int, str, timedelta or pandas.Timedelta
        An integer means hours.
    name : str, default "hours"
        How to call the value in error messages.
    minimum : int, default 0
        The smallest accepted value.

    Returns
    -------
    int

    Raises
    ------
    ConfigurationError
        When the value is not a whole number of hours or is below ``minimum``.

    Examples
    --------
    >>> parse_hours("2h"), parse_hours(3), parse_hours("0h")
    (2, 3, 0)
    """
    if isinstance(value, bool):
        raise ConfigurationError(f"{name}: expected a number of hours, got {value!r}")
    if isinstance(value, int | np.integer):
        hours = int(value)
    else:
        try:
            td = pd.Timedelta(value)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"{name}: cannot read {value!r} as hours (use e.g. 1 or '1h')"
            ) from exc
        if pd.isna(td) or td % _HOUR != pd.Timedelta(0):
            raise ConfigurationError(f"{name}: {value!r} must be a whole number of hours")
        hours = int(td / _HOUR)
    if hours < minimum:
        raise ConfigurationError(f"{name}: must be at least {minimum} hour(s), got {value!r}")
    return hours


@dataclasses.dataclass(frozen=True)
class BacktestConfig:
    """Options of a rolling-origin backtest, normalised and validated.

    Build it with :meth:`create` (which parses dates and durations) or pass the options
    straight to :func:`~infotrafic.backtest.backtest`. See the module docstring of
    :mod:`infotrafic.backtest` for the exact schedule.

    Parameters
    ----------
    start, end : pandas.Timestamp
        UTC bounds of the scoring window: targets ``t`` with ``start <= t < end``.
    horizons : tuple of int, default (1,)
        Hours between the issue of a forecast and its target; every target is forecast at
        each horizon.
    refit : pandas.Timedelta, default 7 days
        Refit cadence; also the length of each prediction block.
    window : {"expanding", "sliding"}, default "expanding"
        Train on all history, or on the last ``train_size`` of it.
    train_size : pandas.Timedelta, optional
        Length of the sliding window (required with ``window="sliding"``).
    delay : int, default 0
        Publication delay in hours: data for hour ``x`` is known at ``x + delay``.
    arcs : tuple of int, optional
        Restrict the backtest to these arcs.
    n_jobs : int, default 1
        Refit blocks run at once, each in its own worker process; ``-1`` means all the
        available cores (the process's CPU affinity; see :attr:`workers`). 1 runs them inline,
        serially, as scikit-learn's ``n_jobs`` does by default (the ``infotrafic backtest``
        command defaults to all cores). The predictions do not depend on it.
    progress : bool, default False
        Show a tqdm progress bar.
    levels : tuple of float, default ()
        Prediction interval levels in percent (e.g. ``(80, 95)``): conformal intervals
        ``lo_<L>``, ``hi_<L>`` for every model (see :mod:`infotrafic.intervals`).
    state : bool, default False
        Also forecast the occupancy with every model that can, derive the traffic state and
        its probability, and score them against persistence of the last state.
    calibration : pandas.Timedelta, default 28 days
        Window of past errors calibrating intervals and state probabilities. Models are also
        run on the ``calibration`` before ``start`` (rounded up to whole refit blocks; not
        scored) so that the first targets have errors to calibrate on.

    Examples
    --------
    >>> cfg = BacktestConfig.create(start="2023-06-01", end="2023-06-15", refit="7D")
    >>> [c.isoformat() for c in cfg.cutoffs()]
    ['2023-05-31T22:00:00+00:00', '2023-06-07T22:00:00+00:00']
    >>> cfg.lead
    1
    >>> BacktestConfig.create(start="2023-06-01", end="2023-06-15", horizon=[1, 24]).horizons
    (1, 24)
    """

    start: pd.Timestamp
    end: pd.Timestamp
    horizons: tuple[int, ...] = (1,)
    refit: pd.Timedelta = pd.Timedelta(defaults.REFIT)
    window: Window = "expanding"
    train_size: pd.Timedelta | None = None
    delay: int = 0
    arcs: tuple[int, ...] | None = None
    n_jobs: int = 1
    progress: bool = False
    levels: tuple[float, ...] = ()
    state: bool = False
    calibration: pd.Timedelta = pd.Timedelta(defaults.CALIBRATION)

    def __post_init__(self) -> None:
        for field in ("start", "end"):
            ts = getattr(self, field)
            if not isinstance(ts, pd.Timestamp) or ts.tzinfo is None:
                raise ConfigurationError(
                    f"{field}: expected a tz-aware pandas.Timestamp; use BacktestConfig.create "
                    "to parse dates"
                )
        if self.end <= self.start:
            raise ConfigurationError(
                f"end ({self.end}) must be after start ({self.start}): targets are [start, end)"
            )
        if not self.horizons or any(int(h) < 1 for h in self.horizons):
            raise ConfigurationError(
                f"horizons must be whole numbers of hours >= 1, got {list(self.horizons)}"
            )
        if list(self.horizons) != sorted(set(self.horizons)):
            raise ConfigurationError(f"horizons must be sorted and unique: {list(self.horizons)}")
        object.__setattr__(self, "levels", check_levels(self.levels))
        if self.calibration <= pd.Timedelta(0) or self.calibration % _HOUR != pd.Timedelta(0):
            raise ConfigurationError(
                f"calibration must be a positive whole number of hours: {self.calibration}"
            )
        if self.delay < 0:
            raise ConfigurationError(f"delay must not be negative, got {self.delay}")
        if self.refit <= pd.Timedelta(0) or self.refit % _HOUR != pd.Timedelta(0):
            raise ConfigurationError(
                f"refit must be a positive whole number of hours: {self.refit}"
            )
        if self.window not in ("expanding", "sliding"):
            raise ConfigurationError(
                f"window must be 'expanding' or 'sliding', got {self.window!r}"
            )
        if self.window == "sliding" and self.train_size is None:
            raise ConfigurationError("window='sliding' needs train_size (e.g. '365D')")
        if self.window == "expanding" and self.train_size is not None:
            raise ConfigurationError(
                "train_size only applies to window='sliding'; drop it or set window='sliding'"
            )
        check_n_jobs(self.n_jobs)

    @classmethod
    def create(
        cls,
        *,
        start: TimeLike,
        end: TimeLike,
        horizon: int | DurationLike | Iterable[int | DurationLike] = 1,
        refit: DurationLike = defaults.REFIT,
        window: str = "expanding",
        train_size: DurationLike | None = None,
        delay: int | DurationLike = 0,
        arcs: Iterable[int] | None = None,
        n_jobs: int = 1,
        progress: bool = False,
        levels: Iterable[float] | float | None = None,
        state: bool = False,
        calibration: DurationLike = defaults.CALIBRATION,
    ) -> BacktestConfig:
        """Parse user-friendly options into a config.

        Parameters
        ----------
        start, end : str, datetime, date or pandas.Timestamp
            Naive values are Paris wall-clock time (``"2023-06-01"`` = Paris midnight).
        horizon : int or str, or a sequence of them, default 1
            Hours ahead (``1`` or ``"1h"``); several (``[1, 6, "24h"]``) forecast every target
            at each horizon.
        refit : str or timedelta, default "7D"
            Refit cadence.
        window : {"expanding", "sliding"}, default "expanding"
            Training window.
        train_size : str or timedelta, optional
            Sliding window length (``"365D"``).
        delay : int or str, default 0
            Publication delay (``0`` or ``"2h"``).
        arcs : iterable of int, optional
            Restrict to these arcs.
        n_jobs : int, default 1
            Refit blocks run at once (``-1``: all the available cores).
        progress : bool, default False
            Show a progress bar.
        levels : float or iterable of float, optional
            Prediction interval levels in percent (``[80, 95]``).
        state : bool, default False
            Also forecast occupancy and score the traffic state.
        calibration : str or timedelta, default "28D"
            Window of past errors calibrating intervals and state probabilities.

        Returns
        -------
        BacktestConfig

        Examples
        --------
        >>> BacktestConfig.create(start="2023-01-01", end="2023-02-01", horizon="2h").horizon
        2
        """
        if window not in ("expanding", "sliding"):
            raise ConfigurationError(f"window must be 'expanding' or 'sliding', got {window!r}")
        raw: list[int | DurationLike]
        if isinstance(horizon, int | str | _dt.timedelta | np.integer):
            raw = [horizon]
        else:
            raw = list(horizon)
        horizons = sorted({parse_hours(h, name="horizon", minimum=1) for h in raw})
        return cls(
            start=parse_time(start, name="start"),
            end=parse_time(end, name="end"),
            horizons=tuple(horizons),
            refit=parse_duration(refit, name="refit"),
            window="sliding" if window == "sliding" else "expanding",
            train_size=None
            if train_size is None
            else parse_duration(train_size, name="train_size"),
            delay=parse_hours(delay, name="delay", minimum=0),
            arcs=None if arcs is None else tuple(sorted({int(a) for a in arcs})),
            n_jobs=int(n_jobs),
            progress=bool(progress),
            levels=check_levels(levels),
            state=bool(state),
            calibration=parse_duration(calibration, name="calibration"),
        )

    @property
    def horizon(self) -> int:
        """The horizon of a single-horizon config (see :meth:`at_horizon`).

        Raises
        ------
        ConfigurationError
            When the config has several horizons.
        """
        if len(self.horizons) != 1:
            raise ConfigurationError(
                f"this backtest has several horizons {list(self.horizons)}; use at_horizon(h)"
            )
        return int(self.horizons[0])

    @property
    def workers(self) -> int:
        """The number of refit blocks run at once: :attr:`n_jobs`, with -1 resolved.

        Examples
        --------
        >>> cfg = BacktestConfig.create(start="2023-06-01", end="2023-06-15", n_jobs=-1)
        >>> cfg.workers == available_cores()
        True
        """
        return available_cores() if self.n_jobs == -1 else int(self.n_jobs)

    @property
    def lead(self) -> int:
        """Hours between the newest usable data and the target: ``horizon + delay``."""
        return self.horizon + self.delay

    def at_horizon(self, horizon: int) -> BacktestConfig:
        """Return the same options for one of the horizons.

        Parameters
        ----------
        horizon : int
            One of :attr:`horizons`.

        Returns
        -------
        BacktestConfig
        """
        if horizon not in self.horizons:
            raise ConfigurationError(f"horizon {horizon} is not one of {list(self.horizons)}")
        return dataclasses.replace(self, horizons=(int(horizon),))

    @property
    def calibrates(self) -> bool:
        """Whether forecasts need past errors (intervals or state probabilities)."""
        return bool(self.levels) or self.state

    def warmup_start(self) -> pd.Timestamp:
        """Return where models start forecasting (``start`` or earlier, for calibration).

        Earlier by whole refit blocks covering :attr:`calibration` when forecasts need past
        errors (:attr:`calibrates`).

        Returns
        -------
        pandas.Timestamp

        Examples
        --------
        >>> cfg = BacktestConfig.create(start="2023-06-01", end="2023-07-01", levels=[80])
        >>> str(cfg.warmup_start().tz_convert("Europe/Paris").date())
        '2023-05-04'
        """
        if not self.calibrates:
            return self.start
        blocks = math.ceil(self.calibration / self.refit)
        return self.start - blocks * self.refit

    def cutoffs(self) -> list[pd.Timestamp]:
        """Return the refit cutoffs ``start, start + refit, ...`` before ``end``.

        Returns
        -------
        list of pandas.Timestamp
        """
        out = []
        c = self.start
        while c < self.end:
            out.append(c)
            c = c + self.refit
        return out

    def block_end(self, cutoff: pd.Timestamp) -> pd.Timestamp:
        """Return the (exclusive) end of the block starting at ``cutoff``."""
        return min(cutoff + self.refit, self.end)

    def train_bounds(self, cutoff: pd.Timestamp) -> tuple[pd.Timestamp | None, pd.Timestamp]:
        """Return ``(lower, upper)``: training targets satisfy ``lower < time <= upper``.

        ``upper = cutoff - horizon - delay``; ``lower`` is None for an expanding window.

        Parameters
        ----------
        cutoff : pandas.Timestamp
            A cutoff from :meth:`cutoffs`.

        Returns
        -------
        tuple

        Examples
        --------
        >>> cfg = BacktestConfig.create(start="2023-01-01T00:00Z", end="2023-01-08T00:00Z",
        ...                             window="sliding", train_size="2D", delay=2)
        >>> [str(b) for b in cfg.train_bounds(cfg.start)]
        ['2022-12-29 21:00:00+00:00', '2022-12-31 21:00:00+00:00']
        """
        upper = cutoff - self.lead * _HOUR
        lower = None if self.train_size is None else upper - self.train_size
        return lower, upper

    def to_dict(self) -> dict[str, Any]:
        """Return the options as JSON-friendly values (ISO times, durations as strings).

        Returns
        -------
        dict
        """
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "horizons_hours": list(self.horizons),
            "refit": _fmt_td(self.refit),
            "window": self.window,
            "train_size": None if self.train_size is None else _fmt_td(self.train_size),
            "delay_hours": self.delay,
            "arcs": None if self.arcs is None else list(self.arcs),
            "levels": list(self.levels),
            "state": self.state,
            "calibration": _fmt_td(self.calibration),
        }


def _fmt_td(td: pd.Timedelta) -> str:
    hours = int(td / _HOUR)
    return f"{hours // 24}D" if hours % 24 == 0 else f"{hours}h"
