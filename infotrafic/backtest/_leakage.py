"""An empirical guard against look-ahead: perturb the future, check no forecast moves."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from infotrafic._schema import validate_panel
from infotrafic.backtest._config import BacktestConfig
from infotrafic.backtest._run import backtest
from infotrafic.exceptions import BacktestError

__all__ = ["check_no_future_use"]

_HOUR = pd.Timedelta(hours=1)


def check_no_future_use(
    panel: pd.DataFrame,
    models: Mapping[str, Any] | Sequence[Any],
    config: BacktestConfig,
    *,
    cuts: Iterable[pd.Timestamp] | None = None,
    seed: int = 0,
    atol: float = 1e-6,
) -> int:
    """Check that no forecast of a backtest depends on data after its origin.

    For each cut time ``tau``, every ``flow`` and ``occupancy`` value with ``time > tau`` is
    replaced by random values and the backtest is run again. A forecast for target ``t`` at
    horizon ``h`` may only use data with ``time <= t - h - delay``; so every prediction with
    ``t <= tau + h + delay`` must be unchanged: the point forecast, its interval bounds (the
    conformal calibration may only use errors known at the origin) and, with ``state``, the
    occupancy forecast, the state and its probability. Any change means a model (or the
    engine) looked ahead.

    Parameters
    ----------
    panel : pandas.DataFrame
        Canonical panel.
    models : mapping or sequence of forecasters
        As for :func:`~infotrafic.backtest.backtest`.
    config : BacktestConfig
        The backtest to check (keep it small: it runs ``1 + len(cuts)`` times).
    cuts : iterable of pandas.Timestamp, optional
        Cut times; default: three hours spread over the scoring window, two of them just before
        a refit cutoff and one in the middle of a block.
    seed : int, default 0
        Seed of the random replacement values.
    atol : float, default 1e-6
        Tolerance on prediction changes.

    Returns
    -------
    int
        Number of predictions checked (non-zero when the check is meaningful).

    Raises
    ------
    BacktestError
        When a prediction changed; the message names the model, arc, horizon, target time and
        the column that moved.
    """
    base = backtest(panel, models, config)
    data = validate_panel(panel)
    if cuts is None:
        cutoffs = config.cutoffs()
        mid = config.start + (config.end - config.start) / 2
        cuts = [cutoffs[0] - _HOUR, mid.floor("h"), cutoffs[-1] - _HOUR]
    rng = np.random.default_rng(seed)
    checked = 0
    for tau in cuts:
        future = (data["time"] > tau).to_numpy()
        noisy = data.copy()
        for col in ("flow", "occupancy"):
            vals = noisy[col].to_numpy(dtype="float64").copy()
            vals[future] = rng.uniform(0.0, 3000.0 if col == "flow" else 100.0, future.sum())
            # targets must stay observed so that the same rows are scored
            vals[data[col].isna().to_numpy()] = np.nan
            noisy[col] = vals
        other = backtest(noisy, models, config)
        checked += _compare(base.predictions, other.predictions, tau, config, atol)
        if base.states is not None and other.states is not None:
            checked += _compare(base.states, other.states, tau, config, atol)
    return checked


_COMPARED = ("y_pred", "occupancy_pred", "state_pred", "state_probability")


def _compare(
    base: pd.DataFrame, other: pd.DataFrame, tau: pd.Timestamp, config: BacktestConfig, atol: float
) -> int:
    """Compare the forecasts made before ``tau``; raise on the first difference."""
    lead = (base["horizon"].to_numpy(dtype="int64") + config.delay) * _HOUR
    guarded = (base["time"] <= tau + lead).to_numpy()
    columns = [c for c in base.columns if c in _COMPARED or c.startswith(("lo_", "hi_"))]
    for col in columns:
        a = base[col].to_numpy(dtype="float64")[guarded]
        b = other[col].to_numpy(dtype="float64")[guarded]
        same = (np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= atol * np.maximum(1.0, np.abs(a)))
        if not same.all():
            row = base.loc[guarded].iloc[int(np.flatnonzero(~same)[0])]
            raise BacktestError(
                f"look-ahead detected: model {row['model']!r}, arc {row['arc_id']}, horizon "
                f"{row['horizon']} h, target {row['time']}: {col} changed from {a[~same][0]} to "
                f"{b[~same][0]} when data after {tau} were perturbed"
            )
    return int(guarded.sum())
