"""An empirical guard against look-ahead: perturb the future, check no forecast moves."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from infotrafic._schema import validate_panel
from infotrafic.backtest._config import BacktestConfig
from infotrafic.backtest._engine import backtest
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
    replaced by random values and the backtest is run again. A forecast for target ``t`` may only
    use data with ``time <= t - horizon - delay``; so every prediction with
    ``t <= tau + horizon + delay`` must be unchanged. Any change means a model (or the engine)
    looked ahead.

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
        When a prediction changed; the message names the model, arc and target time.
    """
    base = backtest(panel, models, config).predictions
    data = validate_panel(panel)
    if cuts is None:
        cutoffs = config.cutoffs()
        mid = config.start + (config.end - config.start) / 2
        cuts = [cutoffs[0] - _HOUR, mid.floor("h"), cutoffs[-1] - _HOUR]
    rng = np.random.default_rng(seed)
    checked = 0
    lead = config.lead * _HOUR
    for tau in cuts:
        future = (data["time"] > tau).to_numpy()
        noisy = data.copy()
        for col in ("flow", "occupancy"):
            vals = noisy[col].to_numpy(dtype="float64").copy()
            vals[future] = rng.uniform(0.0, 3000.0 if col == "flow" else 100.0, future.sum())
            noisy[col] = vals
        # Targets must stay observed so the same rows are scored.
        noisy.loc[data["flow"].isna(), "flow"] = np.nan
        other = backtest(noisy, models, config).predictions
        guarded = (base["time"] <= tau + lead).to_numpy()
        a = base["y_pred"].to_numpy(dtype="float64")[guarded]
        b = other["y_pred"].to_numpy(dtype="float64")[guarded]
        same = (np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= atol)
        if not same.all():
            row = base.loc[guarded].iloc[int(np.flatnonzero(~same)[0])]
            raise BacktestError(
                f"look-ahead detected: model {row['model']!r}, arc {row['arc_id']}, target "
                f"{row['time']} changed from {a[~same][0]} to {b[~same][0]} when data after "
                f"{tau} were perturbed (lead {config.lead} h)"
            )
        checked += int(guarded.sum())
    return checked
