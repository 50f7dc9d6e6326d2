"""The engine with the real built-in forecasters (registry names), on small panels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _backtest_doubles import synthetic_panel

from infotrafic.backtest import BacktestConfig, backtest, check_no_future_use
from infotrafic.forecasters import make_forecaster

H = pd.Timedelta(hours=1)
WINDOW = {"start": "2023-01-23T00:00Z", "end": "2023-01-29T00:00Z", "refit": "2D"}


class PanelOnly:
    """Hide a forecaster's fast path so that the engine takes the generic path."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def fit(self, panel: pd.DataFrame) -> PanelOnly:
        self.inner.fit(panel)  # type: ignore[attr-defined]
        return self

    def predict(self, panel: pd.DataFrame, targets: pd.DataFrame) -> np.ndarray:
        return self.inner.predict(panel, targets)  # type: ignore[attr-defined,no-any-return]


def test_baselines_are_the_lagged_values() -> None:
    panel = synthetic_panel(n_arcs=2, weeks=4)
    res = backtest(
        panel,
        {n: make_forecaster(n) for n in ("naive", "seasonal_naive")},
        **WINDOW,
        horizon=2,
    )
    p = res.predictions
    s = panel.set_index(["arc_id", "time"])["flow"]
    for name, lag in (("naive", 2), ("seasonal_naive", 168)):
        one = p[p["model"] == name]
        keys = pd.MultiIndex.from_arrays([one["arc_id"], one["time"] - lag * H])
        np.testing.assert_array_equal(
            one["y_pred"].to_numpy(), s.reindex(keys).to_numpy(dtype="float32")
        )


GBM = pytest.param("gbm", marks=pytest.mark.slow)
GBM_PARAMS = {"max_iter": 20, "n_jobs": 1}


@pytest.mark.parametrize("name", ["naive", "seasonal_naive", "historical_average", GBM])
def test_fast_path_equals_generic_path_builtin(name: str) -> None:
    panel = synthetic_panel(n_arcs=2, weeks=4)
    params = GBM_PARAMS if name == "gbm" else {}
    fast = backtest(panel, {name: make_forecaster(name, **params)}, **WINDOW).predictions
    slow = backtest(panel, {name: PanelOnly(make_forecaster(name, **params))}, **WINDOW).predictions
    np.testing.assert_allclose(
        fast["y_pred"].to_numpy(), slow["y_pred"].to_numpy(), rtol=1e-5, equal_nan=True
    )
    assert fast["y_pred"].notna().mean() > 0.9


@pytest.mark.parametrize("name", ["naive", "seasonal_naive", GBM])
def test_builtin_models_do_not_look_ahead(name: str) -> None:
    panel = synthetic_panel(n_arcs=2, weeks=4)
    cfg = BacktestConfig.create(
        start="2023-01-23T00:00Z", end="2023-01-26T00:00Z", refit="2D", horizon=2, delay=1
    )
    params = GBM_PARAMS if name == "gbm" else {}
    assert check_no_future_use(panel, {name: make_forecaster(name, **params)}, cfg) > 0
