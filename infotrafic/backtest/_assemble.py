"""From the engine's point forecasts to the long prediction frames, intervals and states.

The engine (:mod:`infotrafic.backtest._engine`) gives, per horizon and forecast series, every
model's point forecast of every target, including the calibration warm-up before ``start``.
Here they become the public long frames: the flow predictions with their conformal intervals
(:class:`~infotrafic.intervals.ConformalIntervals`, calibrated on the errors each forecast could
know at its origin), and the traffic states derived from occupancy forecasts, next to
persistence of the last state.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from infotrafic._schema import occupancy_state
from infotrafic.backtest._config import BacktestConfig
from infotrafic.features import FeatureSpec, Lags
from infotrafic.intervals import ConformalIntervals

__all__ = ["PERSISTENCE", "PointForecasts", "calibrator", "prediction_frame", "state_frame"]

_HOUR = pd.Timedelta(hours=1)
_HOUR_NS = 3_600_000_000_000
#: Model name of the last-state persistence baseline in the state frame.
PERSISTENCE = "persistence"


@dataclasses.dataclass(frozen=True)
class PointForecasts:
    """Every model's forecasts of one series at one horizon (warm-up included).

    Attributes
    ----------
    column : str
        The forecast series (``flow`` or ``occupancy``).
    targets : pandas.DataFrame
        ``arc_id``, ``time`` and ``y`` (the observed value), sorted by ``(time, arc_id)``.
    fitted_at : numpy.ndarray
        UTC nanoseconds of the refit cutoff whose model forecast each target.
    names : list of str
        The models, in the order of ``preds``' rows.
    preds : numpy.ndarray
        ``(n_models, n_targets)`` float64 forecasts (NaN when impossible).
    """

    column: str
    targets: pd.DataFrame
    fitted_at: NDArray[np.int64]
    names: list[str]
    preds: NDArray[np.float64]


def calibrator(cfg: BacktestConfig) -> ConformalIntervals:
    """Return the conformal calibrator of a backtest (its levels and calibration window).

    Parameters
    ----------
    cfg : BacktestConfig
        The backtest options.

    Returns
    -------
    ConformalIntervals
    """
    return ConformalIntervals(levels=cfg.levels, window=int(cfg.calibration / _HOUR))


def _scored_order(f: PointForecasts, start: pd.Timestamp) -> NDArray[np.intp]:
    """Positions of the scored targets (``time >= start``), sorted by ``(arc_id, time)``."""
    t_ns = pd.DatetimeIndex(f.targets["time"]).as_unit("ns").asi8
    keep = np.flatnonzero(t_ns >= start.value)
    arc = f.targets["arc_id"].to_numpy()[keep]
    return keep[np.lexsort((t_ns[keep], arc))]


def _history(panel: pd.DataFrame, f: PointForecasts, lead: int) -> pd.DataFrame:
    """Return the panel rows a scale or lag of these targets may read (a week + the lead)."""
    first = f.targets["time"].min() - (168 + lead) * _HOUR
    out: pd.DataFrame = panel.loc[panel["time"] >= first]
    return out


def _base(f: PointForecasts, pos: NDArray[np.intp], cfg: BacktestConfig) -> dict[str, object]:
    """Identity columns of the scored rows, tiled over the models (model-major)."""
    n_models = len(f.names)
    time = pd.DatetimeIndex(f.targets["time"].to_numpy()[pos])
    horizon = cfg.horizon
    return {
        "arc_id": np.tile(f.targets["arc_id"].to_numpy()[pos], n_models),
        "time": pd.DatetimeIndex(np.tile(time.as_unit("ns").asi8, n_models), tz="UTC"),
        "horizon": np.full(n_models * len(pos), horizon, dtype="int16"),
        "model": pd.Categorical.from_codes(
            np.repeat(np.arange(n_models, dtype="int32"), len(pos)),
            categories=pd.Index(f.names),
        ),
        "origin": pd.DatetimeIndex(
            np.tile((time - (horizon + cfg.delay) * _HOUR).as_unit("ns").asi8, n_models),
            tz="UTC",
        ),
        "fitted_at": pd.DatetimeIndex(np.tile(f.fitted_at[pos], n_models), tz="UTC"),
    }


def _flow_errors(
    f: PointForecasts, panel: pd.DataFrame, cfg: BacktestConfig, cal: ConformalIntervals
) -> tuple[NDArray[np.float64], list[pd.DataFrame]]:
    """Scale of every target and each model's calibration errors (warm-up included)."""
    scale = cal.scales(_history(panel, f, cfg.lead), f.targets, cfg.lead, f.column)
    y = f.targets["y"].to_numpy(dtype=np.float64)
    errors = [cal.errors(f.targets["time"], y, f.preds[i], scale) for i in range(len(f.names))]
    return scale, errors


def prediction_frame(f: PointForecasts, panel: pd.DataFrame, cfg: BacktestConfig) -> pd.DataFrame:
    """Return the long flow prediction frame of one horizon (intervals when ``cfg.levels``).

    Parameters
    ----------
    f : PointForecasts
        The engine's flow forecasts at ``cfg.horizon`` (warm-up included).
    panel : pandas.DataFrame
        The validated panel.
    cfg : BacktestConfig
        The single-horizon options (scored window ``[start, end)``).

    Returns
    -------
    pandas.DataFrame
        ``arc_id, time, horizon, model, origin, fitted_at, y_true, y_pred`` and
        ``lo_<L>, hi_<L>`` per level, sorted by model, arc and time.
    """
    pos = _scored_order(f, cfg.start)
    frame = pd.DataFrame(_base(f, pos, cfg))
    y = f.targets["y"].to_numpy(dtype=np.float64)
    frame["y_true"] = np.tile(y[pos], len(f.names)).astype("float32")
    frame["y_pred"] = f.preds[:, pos].ravel().astype("float32")
    if cfg.levels:
        cal = calibrator(cfg)
        scale, errors = _flow_errors(f, panel, cfg, cal)
        parts = []
        for i in range(len(f.names)):
            queries = pd.DataFrame(
                {
                    "time": f.targets["time"].to_numpy()[pos],
                    "y_pred": f.preds[i, pos],
                    "scale": scale[pos],
                }
            )
            parts.append(cal.apply(queries, errors[i], cfg.lead, f.column))
        bounds = pd.concat(parts, ignore_index=True).astype("float32")
        for col in cal.columns:
            frame[col] = bounds[col].to_numpy()
    return frame


def state_frame(f: PointForecasts, panel: pd.DataFrame, cfg: BacktestConfig) -> pd.DataFrame:
    """Return the traffic-state forecasts of one horizon, with last-state persistence.

    A model's state is the most probable one under its calibrated occupancy distribution
    (:meth:`~infotrafic.intervals.ConformalIntervals.state_probabilities`: its past errors in
    forecasts of the same state, known at the origin), or the state of its point forecast when
    no past error is available yet; ``persistence`` repeats the state of the
    occupancy observed at the origin.

    Parameters
    ----------
    f : PointForecasts
        The engine's occupancy forecasts at ``cfg.horizon`` (warm-up included).
    panel : pandas.DataFrame
        The validated panel.
    cfg : BacktestConfig
        The single-horizon options.

    Returns
    -------
    pandas.DataFrame
        ``arc_id, time, horizon, model, origin, fitted_at, occupancy_true, occupancy_pred,
        state_true, state_pred, state_probability`` (state codes 1-4, 0 = no forecast).
    """
    pos = _scored_order(f, cfg.start)
    cal = calibrator(cfg)
    y_all = f.targets["y"].to_numpy(dtype=np.float64)
    times = f.targets["time"].to_numpy()[pos]
    lag = FeatureSpec((Lags("occupancy", lags=(cfg.lead,)),), lead=cfg.lead, target="occupancy")
    last = lag.build(_history(panel, f, cfg.lead), targets=f.targets.iloc[pos][["arc_id", "time"]])
    persisted = last[lag.feature_names()[0]].to_numpy(dtype=np.float64)
    preds = np.vstack([f.preds[:, pos], persisted[None, :]])
    states = np.zeros(preds.shape, dtype=np.int8)
    probability = np.full(preds.shape, np.nan)
    for i in range(len(f.names)):
        errors = cal.state_errors(f.targets["time"], y_all, f.preds[i])
        queries = pd.DataFrame({"time": times, "y_pred": preds[i]})
        proba = cal.state_probabilities(queries, errors, cfg.lead)
        known = ~np.isnan(proba).any(axis=1)
        states[i] = occupancy_state(preds[i])
        states[i, known] = np.argmax(proba[known], axis=1) + 1
        probability[i, known] = proba[known].max(axis=1)
    states[-1] = occupancy_state(persisted)
    g = PointForecasts(f.column, f.targets, f.fitted_at, [*f.names, PERSISTENCE], f.preds)
    frame = pd.DataFrame(_base(g, pos, cfg))
    y = f.targets["y"].to_numpy(dtype=np.float64)[pos]
    n = len(g.names)
    frame["occupancy_true"] = np.tile(y, n).astype("float32")
    frame["occupancy_pred"] = preds.ravel().astype("float32")
    frame["state_true"] = np.tile(occupancy_state(y), n)
    frame["state_pred"] = states.ravel()
    frame["state_probability"] = probability.ravel().astype("float32")
    return frame
