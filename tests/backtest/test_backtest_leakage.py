"""No forecast may use data after its origin: perturb the future, nothing before it moves.

The last tests are generated from the feature builder registry: a model reading every example
of every registered builder passes the check, so a new builder is covered end to end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from _backtest_doubles import GenericOnly, LinearLag, Seasonal, synthetic_panel

from infotrafic.backtest import BacktestConfig, backtest, check_no_future_use
from infotrafic.exceptions import BacktestError
from infotrafic.features import (
    Column,
    FeatureBuilder,
    FeatureSpec,
    HistoryView,
    _registry,
    builder_examples,
    register_builder,
)
from infotrafic.forecasters import BaseForecaster

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


class FeatureSum(BaseForecaster):
    """Predicts the sum of its features (NaN as 0): a change in any feature moves the forecast."""

    requires_refit = False

    def __init__(
        self,
        *,
        builders: tuple[FeatureBuilder, ...] = (),
        horizon: int = 1,
        delay: int = 0,
        target: str = "flow",
    ) -> None:
        super().__init__(horizon=horizon, delay=delay, target=target)
        self.builders = builders

    def feature_spec(self) -> FeatureSpec:
        return FeatureSpec(self.builders, lead=self.lead, target=self.target_column)

    def fit_features(self, X: pd.DataFrame) -> FeatureSum:
        self.n_train_rows_ = len(X)
        return self

    def predict_features(self, X: pd.DataFrame) -> np.ndarray:
        names = self.feature_spec().feature_names()
        return np.nansum(X[names].to_numpy(dtype="float64"), axis=1)


def _every_builder(lead: int) -> tuple[FeatureBuilder, ...]:
    """Every registered builder's examples valid at ``lead`` (skipping clashing names)."""
    out: list[FeatureBuilder] = []
    names: set[str] = set()
    for b in builder_examples(lead):
        own = {c.name for c in b.columns(lead)}
        if not own & names:
            out.append(b)
            names |= own
    return tuple(out)


def test_every_registered_builder_passes_the_backtest_check() -> None:
    """Generated from the registry: features of every builder, both horizons, with a delay."""
    panel = synthetic_panel(n_arcs=2, weeks=6)
    cfg = BacktestConfig.create(
        start="2023-02-06T00:00Z", end="2023-02-09T00:00Z", refit="1D", horizon=2, delay=1
    )
    model = FeatureSum(builders=_every_builder(2 + 1))
    assert len(model.feature_spec().feature_names()) > 50
    assert check_no_future_use(panel, {"every_builder": model}, cfg) > 0


@dataclass(frozen=True)
class PeekNextHour:
    """A broken builder: the value one hour newer than the lead allows (not registered here)."""

    kind: ClassVar[str] = "toy_peek_next_hour"

    def columns(self, lead: int) -> tuple[Column, ...]:
        return (Column("toy_peek", unit="flow", lag=lead, source="flow"),)

    def required_columns(self) -> tuple[str, ...]:
        return ("flow",)

    def lookback(self, lead: int) -> int | None:
        return lead

    def compute(self, view: HistoryView) -> Iterator[tuple[Column, np.ndarray]]:
        values, idx = view.series("flow", view.lead)
        src = idx - view.lead + 1
        yield self.columns(view.lead)[0], np.where(src >= 0, values[:, np.clip(src, 0, None)], 0)


def test_a_newly_registered_leaky_builder_is_caught() -> None:
    saved = dict(_registry._REGISTRY)
    try:
        register_builder(PeekNextHour)
        panel = synthetic_panel(n_arcs=2, weeks=4)
        cfg = BacktestConfig.create(
            start="2023-01-23T00:00Z", end="2023-01-25T00:00Z", refit="1D", horizon=1
        )
        model = FeatureSum(builders=_every_builder(1))
        assert PeekNextHour() in model.builders
        with pytest.raises(BacktestError, match="look-ahead detected: model 'every_builder'"):
            check_no_future_use(panel, {"every_builder": model}, cfg)
    finally:
        _registry._REGISTRY.clear()
        _registry._REGISTRY.update(saved)
