"""Forecast every arc at every horizon from a trained model: flow, intervals, occupancy, state."""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from infotrafic._schema import TRAFFIC_STATES, validate_panel
from infotrafic._types import DurationLike, PathLike, TimeLike
from infotrafic.backtest import parse_hours, parse_time
from infotrafic.exceptions import ConfigurationError, DataValidationError
from infotrafic.features import HourlyGrid, build_grid, build_on_grid
from infotrafic.forecasters import BaseForecaster, Forecaster, get_tags
from infotrafic.forecasting._model import ForecastModel, load_model

__all__ = ["forecast", "forecast_columns"]

logger = logging.getLogger("infotrafic.forecasting")

_HOUR = pd.Timedelta(hours=1)
#: A calibration window longer than any model's history (hours).
_EVERYTHING = 10**7


def forecast_columns(levels: Iterable[float]) -> list[str]:
    """Return the columns of a forecast frame for these interval levels.

    Parameters
    ----------
    levels : iterable of float
        The model's interval levels.

    Returns
    -------
    list of str

    Examples
    --------
    >>> forecast_columns([80, 95])  # doctest: +NORMALIZE_WHITESPACE
    ['arc_id', 'issued_at', 'time', 'horizon', 'flow', 'lo_80', 'hi_80', 'lo_95', 'hi_95',
     'occupancy', 'state', 'state_probability', 'stale']
    """
    from infotrafic.intervals import interval_columns

    return [
        "arc_id",
        "issued_at",
        "time",
        "horizon",
        "flow",
        *interval_columns(levels),
        "occupancy",
        "state",
        "state_probability",
        "stale",
    ]


def _last_hour(data: pd.DataFrame) -> pd.Timestamp:
    seen = data["flow"].notna() | data["occupancy"].notna()
    if not seen.any():
        raise DataValidationError("the data has no flow or occupancy to forecast from")
    return pd.Timestamp(data.loc[seen, "time"].max())


def _paris(ts: pd.Timestamp) -> str:
    return ts.tz_convert("Europe/Paris").strftime("%Y-%m-%d %H:%M %Z")


def forecast(
    model: ForecastModel | PathLike,
    panel: pd.DataFrame,
    *,
    at: TimeLike | None = None,
    arcs: Iterable[int] | None = None,
    stale_after: int | DurationLike | None = None,
) -> pd.DataFrame:
    """Forecast the next hours of every arc: flow with intervals, occupancy and traffic state.

    A forecast issued at ``at`` uses the data up to ``at - delay`` (the model's publication
    delay) and covers ``at + h`` for every horizon ``h`` of the model. Intervals come from the
    model's calibration errors known at that time (by hour of day, scaled to each arc's level);
    the state is the most probable one under the calibrated occupancy forecast.

    Parameters
    ----------
    model : ForecastModel or path
        A trained model or its directory.
    panel : pandas.DataFrame
        Canonical panel holding the recent data (at least the weeks the features read).
    at : str, datetime or pandas.Timestamp, optional
        Issue time (naive = Paris time); default: the last hour in the data (plus the model's
        delay).
    arcs : iterable of int, optional
        Only these arcs (an arc absent from the data gives a warning and no row).
    stale_after : int or str, optional
        Hours without flow before the data cutoff after which an arc is stale (listed without
        numbers); default: the model's ``stale_after`` (24 h).

    Returns
    -------
    pandas.DataFrame
        One row per arc and horizon, columns :func:`forecast_columns`: ``arc_id``,
        ``issued_at`` and ``time`` (UTC, end of the target hour), ``horizon`` (hours), ``flow``
        (vehicles/hour), ``lo_<L>``/``hi_<L>``, ``occupancy`` (%), ``state`` (``Fluide``,
        ``Pré-saturé``, ``Saturé``, ``Bloqué``), ``state_probability`` and ``stale`` (True for
        an arc whose last flow is more than ``stale_after`` hours before the data cutoff: no
        numbers then).

    Raises
    ------
    ConfigurationError
        ``at`` after the last hour in the data (the message names it).
    DataValidationError
        No usable data.

    Examples
    --------
    >>> from infotrafic.datasets import load_sample
    >>> from infotrafic.forecasting import forecast, train
    >>> panel = load_sample()
    >>> model = train(panel, "seasonal_naive", horizons=[1, 2], end="2023-11-01")
    >>> out = forecast(model, panel, at="2023-11-02 08:00")
    >>> out[["arc_id", "horizon", "state", "stale"]].head(2).to_dict("records")
    [{'arc_id': 191, 'horizon': 1, 'state': 'Fluide', 'stale': False},
     {'arc_id': 191, 'horizon': 2, 'state': 'Fluide', 'stale': False}]
    """
    if not isinstance(model, ForecastModel):
        model = load_model(model)
    stale_hours = (
        model.stale_after
        if stale_after is None
        else parse_hours(stale_after, name="stale_after", minimum=1)
    )
    data = validate_panel(panel)
    if arcs is not None:
        wanted = sorted({int(a) for a in arcs})
        present = set(np.unique(data["arc_id"].to_numpy()).tolist())
        unknown = [a for a in wanted if a not in present]
        if unknown:
            warnings.warn(
                f"arc(s) {', '.join(map(str, unknown))} not in the data: no forecast for them",
                UserWarning,
                stacklevel=2,
            )
        data = data.loc[data["arc_id"].isin(wanted)]
        if data.empty:
            return _empty(model)
    last = _last_hour(data)
    latest = last + model.delay * _HOUR
    issued = latest if at is None else parse_time(at, name="at")
    if issued > latest:
        raise ConfigurationError(
            f"at={_paris(issued)} is after the last hour in the data ({_paris(last)}"
            + (f" + the model's {model.delay} h delay" if model.delay else "")
            + "); give an earlier issue time (--at) or newer data"
        )
    if issued < model.training_end - _HOUR:
        warnings.warn(
            f"forecasts issued at {_paris(issued)}, before the end of the model's training "
            f"data ({_paris(model.training_end)}): they are not out of sample",
            UserWarning,
            stacklevel=2,
        )
    cutoff = issued - model.delay * _HOUR
    keep = data["time"] <= cutoff
    hours = model.history_hours
    if hours is not None:
        keep &= data["time"] > cutoff - hours * _HOUR
    history = data.loc[keep].reset_index(drop=True)
    return _forecast_frame(model, history, data, issued, cutoff, stale_hours)


def _predict(
    forecaster: Forecaster, history: pd.DataFrame, grid: HourlyGrid, rows: pd.DataFrame
) -> NDArray[np.float64]:
    """Forecast ``rows``: on the shared grid for tabular forecasters, else from the panel.

    A tabular forecaster (its tags) whose features are a
    :class:`~infotrafic.features.FeatureSpec` (a :class:`~infotrafic.forecasters.BaseForecaster`)
    has them built on the grid every horizon shares; any other forecaster predicts from the
    panel.
    """
    if get_tags(forecaster).tabular and isinstance(forecaster, BaseForecaster):
        X = build_on_grid(grid.with_rows(rows), forecaster.feature_spec())
        return np.asarray(forecaster.predict_features(X), dtype=np.float64)
    return np.asarray(forecaster.predict(history, rows), dtype=np.float64)


def _empty(model: ForecastModel) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in forecast_columns(model.levels)})


def _forecast_frame(
    model: ForecastModel,
    history: pd.DataFrame,
    data: pd.DataFrame,
    issued: pd.Timestamp,
    cutoff: pd.Timestamp,
    stale_after: int,
) -> pd.DataFrame:
    all_arcs = np.unique(data["arc_id"].to_numpy(dtype=np.int64))
    flows = history.loc[history["flow"].notna()]
    last_flow = flows.groupby("arc_id")["time"].max().reindex(all_arcs)
    age = (cutoff - last_flow).dt.total_seconds() / 3600.0
    stale = (age.isna() | (age > stale_after)).to_numpy()
    live = all_arcs[~stale]
    horizons = list(model.horizons)
    n = len(all_arcs) * len(horizons)
    arc_col = np.repeat(all_arcs, len(horizons))
    h_col = np.tile(np.asarray(horizons, dtype=np.int64), len(all_arcs))
    out: dict[str, Any] = {
        "arc_id": arc_col,
        "issued_at": pd.DatetimeIndex(np.full(n, issued.value), tz="UTC"),
        "time": pd.DatetimeIndex(issued.value + h_col * _HOUR.value, tz="UTC"),
        "horizon": h_col,
    }
    # the model's calibration errors are its calibration window, whenever it is used
    cal = dataclasses.replace(model.calibrator, window=_EVERYTHING)
    errors = {
        (str(target), int(str(h))): g
        for (target, h), g in model.scores.groupby(["target", "horizon"], observed=True, sort=False)
    }
    empty = model.scores.iloc[:0]
    values = {c: np.full(n, np.nan) for c in ("flow", *cal.columns, "occupancy")}
    probability = np.full(n, np.nan)
    codes = np.zeros(n, dtype=np.int8)
    pos_of_arc = {int(a): i for i, a in enumerate(all_arcs)}
    arc_pos = np.asarray([pos_of_arc[int(a)] for a in live], dtype=np.int64)
    if len(live):
        # one scattered grid for every series and horizon: features built on the target hours
        every = pd.DataFrame(
            {
                "arc_id": np.repeat(live, len(horizons)),
                "time": pd.DatetimeIndex(
                    np.tile(issued.value + np.asarray(horizons) * _HOUR.value, len(live)),
                    tz="UTC",
                ),
            }
        )
        grid = build_grid(history, columns=("flow", "occupancy"), targets=every)
    for target in model.targets:
        for j, h in enumerate(horizons):
            if not len(live):
                break
            rows = pd.DataFrame(
                {
                    "arc_id": live,
                    "time": pd.DatetimeIndex(
                        np.full(len(live), (issued + h * _HOUR).value), tz="UTC"
                    ),
                }
            )
            lead = h + model.delay
            pred = _predict(model.forecasters[(target, h)], history, grid, rows)
            scale = cal.scales(None, rows, lead, target, grid=grid)
            where = arc_pos * len(horizons) + j
            values[target][where] = pred
            mine = errors.get((target, h), empty)
            queries = pd.DataFrame({"time": rows["time"], "y_pred": pred, "scale": scale})
            if target == "flow" and cal.levels:
                bounds = cal.apply(queries, mine, lead, target)
                for col in cal.columns:
                    values[col][where] = bounds[col].to_numpy()
            elif target == "occupancy":
                proba = cal.state_probabilities(queries, mine, lead)
                known = ~np.isnan(proba).any(axis=1)
                codes[where[known]] = np.argmax(proba[known], axis=1) + 1
                probability[where[known]] = proba[known].max(axis=1)
    out.update(values)
    labels = np.array([TRAFFIC_STATES.get(int(c)) if c > 0 else None for c in codes], dtype=object)
    out["state"] = labels
    out["state_probability"] = probability
    out["stale"] = np.repeat(stale, len(horizons))
    frame = pd.DataFrame(out)
    logger.info(
        "forecast issued at %s (data up to %s): %d arcs (%d stale) x %d horizons = %d rows",
        issued,
        cutoff,
        len(all_arcs),
        int(stale.sum()),
        len(horizons),
        n,
    )
    return frame[forecast_columns(model.levels)]
