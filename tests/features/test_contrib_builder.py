"""The contributor's guide "How to add a feature builder", followed literally.

``DayOverDay`` below is the guide's builder, verbatim. Registering it is all it takes for the
generated checks (``builder_examples`` / ``check_builder``, run by ``test_lookback.py`` and
``test_leakage.py``) to cover it; a GBM uses it in a tiny backtest (synthetic panel: mechanics
only). Deliberately broken variants show that the generated checks catch a builder that reads
one hour too new, or declares too short a lookback.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from infotrafic.backtest import BacktestConfig, backtest, check_no_future_use
from infotrafic.exceptions import ConfigurationError
from infotrafic.features import (
    BUILDERS,
    Calendar,
    Column,
    FeatureSpec,
    HistoryView,
    Lags,
    Rolling,
    _registry,
    build_features,
    builder_examples,
    check_builder,
    register_builder,
)
from infotrafic.forecasters import GBMForecaster

# -- the guide's builder, verbatim ----------------------------------------------------------


@register_builder
@dataclass(frozen=True)
class DayOverDay:
    """Ratio of the value at ``t - lag`` to the same hour one day earlier."""

    kind: ClassVar[str] = "day_over_day"  # the tag of saved specs: unique
    column: str = "flow"
    lag: int | None = None  # None: the lead (the newest usable hour)

    def columns(self, lead: int) -> tuple[Column, ...]:
        lag = lead if self.lag is None else self.lag
        name = f"{self.column}_dod_lag{lag}"  # the only place the name is written
        return (Column(name, unit=None, lag=lag, source=self.column),)

    def required_columns(self) -> tuple[str, ...]:
        return (self.column,)

    def lookback(self, lead: int) -> int | None:
        return (lead if self.lag is None else self.lag) + 24

    def compute(self, view: HistoryView) -> Iterator[tuple[Column, np.ndarray]]:
        (column,) = self.columns(view.lead)
        lag = view.lead if self.lag is None else self.lag
        recent = view.lagged(self.column, lag)
        before = view.lagged(self.column, lag + 24)
        with np.errstate(invalid="ignore", divide="ignore"):
            yield column, np.where(before > 0, recent / before, np.nan)


# -- deliberately broken variants (registered only inside the tests that use them) ----------


@dataclass(frozen=True)
class LeakyDayOverDay(DayOverDay):
    """Off by one: its window ends at ``t - lead + 1``, an hour not yet known at the origin."""

    kind: ClassVar[str] = "toy_leaky_day_over_day"

    def compute(self, view: HistoryView) -> Iterator[tuple[Column, np.ndarray]]:
        (column,) = self.columns(view.lead)
        values, idx = view.series(self.column, view.lead)  # the unshifted matrix
        src = idx - view.lead + 1  # the bug: one hour too new
        recent = np.where(src >= 0, values[:, np.clip(src, 0, None)], np.nan)
        before = view.lagged(self.column, view.lead + 24)
        with np.errstate(invalid="ignore", divide="ignore"):
            yield column, np.where(before > 0, recent / before, np.nan)


@dataclass(frozen=True)
class ShortSightedDayOverDay(DayOverDay):
    """Declares the lookback of its recent value only, forgetting the day before."""

    kind: ClassVar[str] = "toy_short_sighted_day_over_day"

    def lookback(self, lead: int) -> int | None:
        return lead if self.lag is None else self.lag


@pytest.fixture
def scratch_registry() -> Iterator[None]:
    """Restore the builder registry after a test registers throw-away builders."""
    saved = dict(_registry._REGISTRY)
    yield
    _registry._REGISTRY.clear()
    _registry._REGISTRY.update(saved)


def _panel(weeks: int = 4, seed: int = 0) -> pd.DataFrame:
    """A SYNTHETIC two-arc panel: daily profile, noise, a few missing values."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2023-01-02T01:00Z", periods=weeks * 168, freq="h")
    hours = np.arange(len(times))
    frames = []
    for arc, level in ((100, 300.0), (101, 800.0)):
        flow = level * (1.2 + np.sin(2 * np.pi * hours / 24)) + rng.normal(0, 15, len(times))
        flow[rng.random(len(times)) < 0.03] = np.nan
        occ = np.clip(flow / level * 5, 0, None)
        frames.append(
            pd.DataFrame({"arc_id": arc, "time": times, "flow": flow.clip(0), "occupancy": occ})
        )
    return pd.concat(frames, ignore_index=True)


def test_the_builder_is_registered_and_saved_by_kind() -> None:
    assert BUILDERS["day_over_day"] is DayOverDay
    spec = FeatureSpec((Lags(lags=(2,)), DayOverDay(lag=3)), lead=2)
    assert spec.feature_names() == ["flow_lag2", "flow_dod_lag3"]
    assert spec.units() == {"flow_lag2": "flow", "flow_dod_lag3": None}
    back = FeatureSpec.from_json(spec.to_json())
    assert back == spec
    assert isinstance(back.builders[1], DayOverDay)


def test_its_values_are_the_day_over_day_ratio() -> None:
    panel = _panel(weeks=2)
    X = build_features(panel, FeatureSpec((DayOverDay(),), lead=2))
    s = panel[panel["arc_id"] == 101].set_index("time")["flow"]
    want = (s.shift(2) / s.shift(26)).to_numpy()
    got = X.loc[X["arc_id"] == 101, "flow_dod_lag2"].to_numpy(dtype=np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)
    assert np.isfinite(got).sum() > 250


@pytest.mark.parametrize("lead", [1, 4, 30])
def test_the_generated_checks_include_it(lead: int) -> None:
    examples = [b for b in builder_examples(lead) if type(b) is DayOverDay]
    assert examples == [DayOverDay()]  # no examples(): its default instance
    assert check_builder(examples[0], lead=lead) > 0


def test_a_gbm_uses_it_in_a_tiny_backtest() -> None:
    panel = _panel()
    spec = FeatureSpec(
        (
            Lags(lags=(1, 2, 24)),
            Rolling(windows=(168,), min_periods=24),
            DayOverDay(),
            Calendar(("hour",)),
        )
    )
    model = GBMForecaster(features=spec, max_iter=15, min_samples_leaf=20, n_jobs=1)
    cfg = BacktestConfig.create(
        start="2023-01-23T00:00Z", end="2023-01-26T00:00Z", refit="1D", horizon=1
    )
    result = backtest(panel, {"gbm_dod": model}, cfg)
    pred = result.predictions
    assert len(pred) > 100 and pred["y_pred"].notna().mean() > 0.9
    fitted = GBMForecaster(features=spec, max_iter=15, min_samples_leaf=20).fit(panel)
    assert "flow_dod_lag1" in fitted.feature_names_
    # the whole model, with the toy feature, passes the backtest's look-ahead check
    assert check_no_future_use(panel, {"gbm_dod": model}, cfg) > 0


@pytest.mark.usefixtures("scratch_registry")
def test_the_generated_checks_catch_a_leaky_builder() -> None:
    register_builder(LeakyDayOverDay)
    examples = builder_examples(3)
    assert LeakyDayOverDay() in examples  # registered: the generated checks include it
    failed = []
    for builder in examples:
        try:
            check_builder(builder, lead=3)
        except ConfigurationError as exc:
            failed.append((builder, str(exc)))
    assert [b for b, _ in failed] == [LeakyDayOverDay()]
    message = failed[0][1]
    assert "LeakyDayOverDay" in message and "flow_dod_lag3" in message
    assert "t - lead" in message and "HistoryView" in message


@pytest.mark.usefixtures("scratch_registry")
def test_the_generated_checks_catch_a_short_lookback() -> None:
    register_builder(ShortSightedDayOverDay)
    with pytest.raises(ConfigurationError, match=r"lookback \(2 h\) were removed"):
        check_builder(ShortSightedDayOverDay(), lead=2)


@pytest.mark.usefixtures("scratch_registry")
def test_an_unregistered_builder_fails_the_check_with_the_fix() -> None:
    with pytest.raises(ConfigurationError, match="decorate the class with @infotrafic"):
        check_builder(LeakyDayOverDay(), lead=1)


@pytest.mark.usefixtures("scratch_registry")
def test_register_builder_errors_name_the_class_and_the_fix() -> None:
    @dataclass(frozen=True)
    class Impostor(DayOverDay):
        kind: ClassVar[str] = "day_over_day"

    with pytest.raises(ConfigurationError, match=r"class .*Impostor.*already registered by .*"):
        register_builder(Impostor)

    @dataclass(frozen=True)
    class NoKind:
        def columns(self, lead: int) -> tuple[Column, ...]:
            return ()

    with pytest.raises(ConfigurationError, match=r"NoKind has no kind; add a class attribute"):
        register_builder(NoKind)

    @dataclass(frozen=True)
    class NoCompute:
        kind: ClassVar[str] = "toy_no_compute"

        def columns(self, lead: int) -> tuple[Column, ...]:
            return ()

    with pytest.raises(ConfigurationError, match=r"NoCompute lacks the method\(s\) \["):
        register_builder(NoCompute)

    class Plain:
        kind = "toy_plain"
        columns = required_columns = lookback = compute = DayOverDay.compute

    with pytest.raises(ConfigurationError, match=r"Plain is not a dataclass.*@dataclass"):
        register_builder(Plain)
    assert "toy_plain" not in BUILDERS and "toy_no_compute" not in BUILDERS


def test_an_unknown_kind_names_the_fix() -> None:
    data = {"lead": 1, "target": "flow", "builders": [{"kind": "nobody_registered_this"}]}
    with pytest.raises(ConfigurationError, match="register the builder class with"):
        FeatureSpec.from_dict(data)


def test_builders_is_a_read_only_view() -> None:
    with pytest.raises(TypeError):
        BUILDERS["x"] = DayOverDay  # type: ignore[index]
