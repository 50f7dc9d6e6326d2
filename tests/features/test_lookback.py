"""Lookback: features built on a panel cut ``lookback`` hours before the targets are exact.

The builders checked are not listed here: they are the examples of every registered builder
(``builder_examples``), so a newly registered builder is covered without editing this file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infotrafic.datasets import load_sample
from infotrafic.features import (
    BUILDERS,
    EWM,
    Calendar,
    FeatureSpec,
    Lags,
    LastValue,
    MissingIndicator,
    ProfileDeviation,
    Rolling,
    SameDayType,
    SameHourOfWeek,
    SeasonalDiff,
    build_features,
    builder_examples,
)
from infotrafic.features._windows import _window_sum
from infotrafic.forecasters._gbm import default_gbm_features

H = pd.Timedelta(hours=1)
LEADS = (1, 3, 170)
#: (lead, builder) for every example of every registered builder, generated from the registry.
CASES = [(lead, b) for lead in LEADS for b in builder_examples(lead)]


def _case_id(case: object) -> str:
    return repr(case) if isinstance(case, int) else type(case).__name__


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_sample()


def _targets(panel: pd.DataFrame, first: pd.Timestamp, hours: int) -> pd.DataFrame:
    times = pd.date_range(first, periods=hours, freq="h")
    arcs = np.sort(panel["arc_id"].unique())
    return pd.DataFrame({"arc_id": np.repeat(arcs, len(times)), "time": np.tile(times, len(arcs))})


def _cut_equals_full(panel: pd.DataFrame, spec: FeatureSpec, first: pd.Timestamp) -> None:
    lookback = spec.lookback()
    assert lookback is not None
    targets = _targets(panel, first, 200)
    last = targets["time"].max()
    cut = panel[(panel["time"] >= first - lookback * H) & (panel["time"] <= last)]
    full = build_features(panel, spec, targets=targets)
    part = build_features(cut, spec, targets=targets)
    pd.testing.assert_frame_equal(full, part, check_exact=True)


@pytest.mark.parametrize(("lead", "builder"), CASES, ids=_case_id)
def test_cut_at_lookback_gives_the_same_features(
    sample: pd.DataFrame, builder: object, lead: int
) -> None:
    """On the real sample: every registered builder's declared lookback is exact."""
    spec = FeatureSpec((builder,), lead=lead)  # type: ignore[arg-type]
    if spec.lookback() is None:
        pytest.skip("unbounded lookback (the whole history): see test_ewm_is_unbounded")
    _cut_equals_full(sample, spec, pd.Timestamp("2023-05-07T05:00Z"))


def test_the_generated_cases_cover_every_registered_builder() -> None:
    """Every registered class gives examples, and the cases include every built-in one."""
    builtin = {EWM, Calendar, Lags, LastValue, MissingIndicator, ProfileDeviation, Rolling}
    builtin |= {SameDayType, SameHourOfWeek, SeasonalDiff}
    for lead in LEADS:
        assert {type(b) for b in builder_examples(lead)} == set(BUILDERS.values())
        assert {type(b) for lead_, b in CASES if lead_ == lead} >= builtin


@settings(max_examples=15, deadline=None)
@given(offset=st.integers(0, 24 * 120), lead=st.integers(1, 30))
def test_default_gbm_spec_cut_anywhere(offset: int, lead: int) -> None:
    panel = load_sample()
    first = pd.Timestamp("2023-01-15T00:00Z") + offset * H
    _cut_equals_full(panel, default_gbm_features(lead), first)


def test_lookback_values() -> None:
    assert Lags(lags=(1, 168)).lookback(1) == 168
    assert Rolling(windows=(3, 24)).lookback(2) == 25
    assert LastValue().lookback(1) is None
    assert LastValue(max_age=168).lookback(2) == 170
    assert SameHourOfWeek(weeks=(4,)).lookback(1) == 168 * 4
    assert SeasonalDiff(season=24).lookback(30) == 54
    assert MissingIndicator(window=24).lookback(1) == 24
    assert ProfileDeviation(weeks=4, hours=(1, 3)).lookback(1) == 1 + 2 + 168 * 4
    assert SameDayType(days=(1, 5)).lookback(1) == 1 + 24 * 35
    assert Calendar().lookback(1) == 0
    assert EWM().lookback(1) is None
    assert FeatureSpec((Lags(lags=(1,)), EWM())).lookback() is None
    assert FeatureSpec((Lags(lags=(5,)), Calendar())).lookback() == 5


def test_ewm_is_unbounded_and_differs_on_a_cut(sample: pd.DataFrame) -> None:
    """EWM weighs the whole history: a cut panel legitimately changes it (lookback None)."""
    spec = FeatureSpec((EWM(halflives=(24,)),))
    first = pd.Timestamp("2023-05-07T05:00Z")
    targets = _targets(sample, first, 24)
    cut = sample[sample["time"] >= first - 48 * H]
    a = build_features(sample, spec, targets=targets)["flow_ewm_lag1_halflife24"]
    b = build_features(cut, spec, targets=targets)["flow_ewm_lag1_halflife24"]
    assert not np.allclose(a, b)
    np.testing.assert_allclose(a, b, rtol=0.5)


@settings(max_examples=50, deadline=None)
@given(
    window=st.integers(1, 30),
    origin=st.integers(0, 10_000),
    n_hours=st.integers(0, 80),
    seed=st.integers(0, 1000),
)
def test_window_sum_matches_a_direct_sum(window: int, origin: int, n_hours: int, seed: int) -> None:
    x = np.random.default_rng(seed).integers(0, 50, (2, n_hours)).astype(np.float64)
    got = _window_sum(x, window, origin)
    padded = np.concatenate([np.zeros((2, window)), x], axis=1)
    want = np.zeros((2, n_hours))
    for j in range(n_hours):
        want[:, j] = padded[:, j + 1 : j + window + 1].sum(axis=1)
    np.testing.assert_array_equal(got, want)
