"""Baselines: naive (persistence), seasonal naive and historical average."""

from __future__ import annotations

from typing import Literal, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from infotrafic.exceptions import ConfigurationError
from infotrafic.features import (
    Calendar,
    FeatureSpec,
    Lags,
    LastValue,
    lag_column,
    last_value_column,
    seasonal_lag,
)
from infotrafic.forecasters._base import BaseForecaster

__all__ = ["HistoricalAverageForecaster", "NaiveForecaster", "SeasonalNaiveForecaster"]


class _LagForecaster(BaseForecaster):
    """A baseline whose forecast is one lag column of its feature table.

    It learns nothing from training data (``requires_refit = False``, see
    :func:`~infotrafic.forecasters.requires_refit`).
    """

    requires_refit = False

    def _column(self) -> str:
        raise NotImplementedError

    def predict_features(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Return the lag column of every row."""
        self._check_fitted()
        self._check_columns(X, [self._column()])
        return X[self._column()].to_numpy(dtype=np.float64, copy=True)


class NaiveForecaster(_LagForecaster):
    """Persistence: predict the value ``lead`` hours before the target.

    With ``fill=None`` (default) the prediction for ``t`` is exactly ``y(t - lead)`` and NaN when
    that value is missing (the reference "value of the previous hour" at horizon 1). With
    ``fill="last"`` it is the last non-missing value at or before ``t - lead`` (optionally no
    older than ``max_age`` hours).

    Parameters
    ----------
    fill : {None, "last"}, default None
        How to handle a missing ``y(t - lead)``.
    max_age : int, optional
        With ``fill="last"``, ignore values older than this many hours.
    horizon : int, default 1
        Hours ahead.
    delay : int, default 0
        Publication delay in hours.
    target : {"flow", "occupancy"}, default "flow"
        The panel column to forecast.

    Examples
    --------
    >>> import pandas as pd
    >>> from infotrafic.forecasters import NaiveForecaster
    >>> panel = pd.DataFrame({"arc_id": 1, "flow": [10.0, None, 30.0],
    ...     "time": pd.date_range("2024-01-01 01:00", periods=3, freq="h", tz="UTC")})
    >>> targets = pd.DataFrame({"arc_id": [1, 1], "time": panel["time"].iloc[1:].to_numpy()})
    >>> NaiveForecaster().fit(panel).predict(panel, targets).tolist()
    [10.0, nan]
    >>> NaiveForecaster(fill="last").fit(panel).predict(panel, targets).tolist()
    [10.0, 10.0]
    """

    def __init__(
        self,
        *,
        fill: Literal["last"] | None = None,
        max_age: int | None = None,
        horizon: int = 1,
        delay: int = 0,
        target: str = "flow",
    ) -> None:
        super().__init__(horizon=horizon, delay=delay, target=target)
        self.fill = fill
        self.max_age = max_age

    def _column(self) -> str:
        if self.fill is None:
            return lag_column(self.target_column, self.lead)
        if self.fill == "last":
            return last_value_column(self.target_column, self.lead)
        raise ConfigurationError(f"NaiveForecaster: fill must be None or 'last', got {self.fill!r}")

    def feature_spec(self) -> FeatureSpec:
        """Return the single lag (or last-value) feature."""
        self._column()
        target = self.target_column
        if self.fill == "last":
            builder: LastValue | Lags = LastValue(target, age=False, max_age=self.max_age)
        else:
            builder = Lags(target, lags=(self.lead,))
        return FeatureSpec((builder,), lead=self.lead, target=target)

    def fit_features(self, X: pd.DataFrame) -> Self:
        """Nothing to learn beyond checking the table; return ``self``."""
        self._check_columns(X, [self._column()])
        self.lead_ = self.lead
        self.n_train_rows_ = len(X)
        return self


class SeasonalNaiveForecaster(_LagForecaster):
    """Same hour one season earlier: ``y(t - k * season)``, smallest ``k * season >= lead``.

    At horizon 1 with the default season of 168 h it predicts ``y(t - 168 h)`` exactly (NaN when
    missing).

    Parameters
    ----------
    season : int, default 168
        Season length in hours (168: one week; 24: one day).
    horizon : int, default 1
        Hours ahead.
    delay : int, default 0
        Publication delay in hours.
    target : {"flow", "occupancy"}, default "flow"
        The panel column to forecast.

    Examples
    --------
    >>> from infotrafic.forecasters import SeasonalNaiveForecaster
    >>> SeasonalNaiveForecaster().feature_spec().feature_names()
    ['flow_lag168']
    >>> SeasonalNaiveForecaster(season=24, horizon=30).feature_spec().feature_names()
    ['flow_lag48']
    """

    def __init__(
        self, *, season: int = 168, horizon: int = 1, delay: int = 0, target: str = "flow"
    ) -> None:
        super().__init__(horizon=horizon, delay=delay, target=target)
        self.season = season

    def _column(self) -> str:
        if int(self.season) < 1:
            raise ConfigurationError(f"season must be >= 1 hour, got {self.season}")
        return lag_column(self.target_column, seasonal_lag(int(self.season), self.lead))

    def feature_spec(self) -> FeatureSpec:
        """Return the single seasonal lag feature."""
        lag = seasonal_lag(int(self.season), self.lead)
        target = self.target_column
        return FeatureSpec((Lags(target, lags=(lag,)),), lead=self.lead, target=target)

    def fit_features(self, X: pd.DataFrame) -> Self:
        """Nothing to learn beyond checking the table; return ``self``."""
        self._check_columns(X, [self._column()])
        self.lag_ = seasonal_lag(int(self.season), self.lead)
        self.n_train_rows_ = len(X)
        return self


class HistoricalAverageForecaster(BaseForecaster):
    """Mean (or median) flow of the same arc and hour of the week over the training data.

    The hour of the week is taken in Paris local time (see :class:`~infotrafic.features.Calendar`).
    Arcs or hours never seen in training get NaN.

    Parameters
    ----------
    weeks : int, optional
        Only use the last ``weeks`` weeks before the newest training row (all by default).
    stat : {"mean", "median"}, default "mean"
        Aggregate.
    horizon : int, default 1
        Hours ahead (does not change the prediction; kept for the contract).
    delay : int, default 0
        Publication delay in hours.
    target : {"flow", "occupancy"}, default "flow"
        The panel column to forecast.

    Examples
    --------
    >>> import pandas as pd
    >>> from infotrafic.forecasters import HistoricalAverageForecaster
    >>> t = pd.date_range("2024-01-01 01:00", periods=3 * 168, freq="h", tz="UTC")
    >>> weekly = [10.0] * 168 + [20.0] * 168 + [60.0] * 168
    >>> panel = pd.DataFrame({"arc_id": 1, "time": t, "flow": weekly})
    >>> model = HistoricalAverageForecaster().fit(panel)
    >>> model.predict(panel, panel.iloc[:2][["arc_id", "time"]]).tolist()
    [30.0, 30.0]
    """

    def __init__(
        self,
        *,
        weeks: int | None = None,
        stat: Literal["mean", "median"] = "mean",
        horizon: int = 1,
        delay: int = 0,
        target: str = "flow",
    ) -> None:
        super().__init__(horizon=horizon, delay=delay, target=target)
        self.weeks = weeks
        self.stat = stat

    def feature_spec(self) -> FeatureSpec:
        """Return the hour-of-week calendar feature."""
        return FeatureSpec(
            (Calendar(fields=("hour_of_week",)),), lead=self.lead, target=self.target_column
        )

    def fit_features(self, X: pd.DataFrame) -> Self:
        """Learn the (arc, hour of week) table from the rows with a known ``y``."""
        if self.stat not in ("mean", "median"):
            raise ConfigurationError(f"stat must be 'mean' or 'median', got {self.stat!r}")
        self._check_columns(X, ["arc_id", "time", "y", "hour_of_week"])
        rows = X.loc[X["y"].notna(), ["arc_id", "time", "y", "hour_of_week"]]
        if self.weeks is not None and len(rows):
            newest = rows["time"].max()
            rows = rows[rows["time"] > newest - pd.Timedelta(hours=168 * int(self.weeks))]
        arcs = np.unique(rows["arc_id"].to_numpy(dtype=np.int64))
        table = np.full((len(arcs), 168), np.nan)
        if len(rows):
            grouped = rows.groupby(["arc_id", "hour_of_week"])["y"]
            agg = grouped.mean() if self.stat == "mean" else grouped.median()
            a = np.searchsorted(arcs, agg.index.get_level_values(0).to_numpy(dtype=np.int64))
            h = agg.index.get_level_values(1).to_numpy().astype(np.intp)
            table[a, h] = agg.to_numpy(dtype=np.float64)
        self.arc_ids_ = arcs
        self.table_ = table
        return self

    def predict_features(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Look every row up in the learned table."""
        self._check_fitted()
        self._check_columns(X, ["arc_id", "hour_of_week"])
        out = np.full(len(X), np.nan)
        if len(self.arc_ids_) == 0:
            return out
        arc = X["arc_id"].to_numpy(dtype=np.int64)
        pos = np.searchsorted(self.arc_ids_, arc)
        pos_c = np.minimum(pos, len(self.arc_ids_) - 1)
        known = self.arc_ids_[pos_c] == arc
        how = X["hour_of_week"].to_numpy(dtype=np.float64)
        ok = known & ~np.isnan(how)
        out[ok] = self.table_[pos_c[ok], how[ok].astype(np.intp)]
        return out
