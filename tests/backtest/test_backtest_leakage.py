"""No forecast may use data after its origin: perturb the future, nothing before it moves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _backtest_doubles import GenericOnly, LinearLag, Seasonal, synthetic_panel

from infotrafic.backtest import BacktestConfig, backtest, check_no_future_use
from infotrafic.exceptions import BacktestError

H = pd.Timedelta(hours=1)


def test_perturbing_the_future_never_changes_past_predictions() -> None:
    """The explicit version of the check: one cut, both engine paths."""
    panel = synthetic_panel(n_arcs=2, weeks=5)
    kw = {"start": "2023-01-30T00:00Z", "end": "2023-02-06T00:00Z", "refit": "3D", "horizon": 2}
    models = {"fast": LinearLag(), "generic": GenericOnly(), "seasonal": Seasonal()}
    base = backtest(panel, models, **kw).predictions
    tau = pd.Timestamp("2023-02-03T13:00Z")  # mid-block
    noisy = panel.copy()
    future = noisy["time"] > tau
    rng = np.random.default_rng(3)
    noisy.loc[future, "flow"] = rng.uniform(0, 5000, future.sum())
    noisy.loc[panel["flow"].isna(), "flow"] = np.nan
    other = backtest(noisy, models, **kw).predictions
    guarded = base["time"] <= tau + 2 * H
    pd.testing.assert_series_equal(base.loc[guarded, "y_pred"], other.loc[guarded, "y_pred"])
    # ...while later predictions do move (the perturbation is visible to honest models).
    assert not np.allclose(
        base.loc[~guarded, "y_pred"], other.loc[~guarded, "y_pred"], equal_nan=True
    )


@pytest.mark.parametrize(("horizon", "delay"), [(1, 0), (2, 3)])
def test_check_passes_for_honest_models(horizon: int, delay: int) -> None:
    panel = synthetic_panel(n_arcs=2, weeks=4)
    cfg = BacktestConfig.create(
        start="2023-01-23T00:00Z", end="2023-01-28T00:00Z", refit="3D", horizon=horizon, delay=delay
    )
    n = check_no_future_use(panel, {"fast": LinearLag(), "generic": GenericOnly()}, cfg)
    assert n > 0


@pytest.mark.parametrize("model", [LinearLag(cheat=1), LinearLag(cheat=3)])
def test_cheating_model_is_caught(model: LinearLag) -> None:
    """A model whose lag is shorter than the lead (uses y(t - lead + k)) is detected."""
    panel = synthetic_panel(n_arcs=2, weeks=5)
    cfg = BacktestConfig.create(
        start="2023-01-23T00:00Z", end="2023-02-01T00:00Z", refit="3D", horizon=3
    )
    with pytest.raises(BacktestError, match="look-ahead detected: model 'cheat'"):
        check_no_future_use(panel, {"cheat": model}, cfg)


def test_engine_bug_training_on_the_future_would_be_caught() -> None:
    """A model that peeks at its training panel's future (fits on y >= cutoff) is caught too."""

    class FitsOnFuture(GenericOnly):
        def fit(self, panel: pd.DataFrame) -> GenericOnly:
            self.inner_ = LinearLag().fit(panel)
            return self

        def predict(self, panel: pd.DataFrame, targets: pd.DataFrame) -> np.ndarray:
            # uses the history right up to the target (lag 0)
            s = panel.set_index(["arc_id", "time"])["flow"]
            keys = pd.MultiIndex.from_frame(targets[["arc_id", "time"]])
            return s.reindex(keys).to_numpy(dtype="float64")

    panel = synthetic_panel(n_arcs=1, weeks=4)
    cfg = BacktestConfig.create(start="2023-01-23T00:00Z", end="2023-01-27T00:00Z", refit="2D")
    with pytest.raises(BacktestError, match="look-ahead"):
        check_no_future_use(panel, {"peek": FitsOnFuture()}, cfg)
