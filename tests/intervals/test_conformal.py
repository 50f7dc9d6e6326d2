"""Conformal intervals: validity on exchangeable errors, no use of errors unknown at the origin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infotrafic.exceptions import ConfigurationError
from infotrafic.intervals import (
    ConformalIntervals,
    check_levels,
    interval_columns,
    local_hours,
    state_probabilities,
)

H = pd.Timedelta(hours=1)


def _scores(n_hours: int, seed: int, start: str = "2024-01-01 01:00") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=n_hours, freq="h", tz="UTC")
    # heavier errors at 8-9h Paris than at night: a by-hour calibration must see it
    hour = local_hours(times)
    spread = np.where((hour >= 7) & (hour <= 9), 3.0, 1.0)
    return pd.DataFrame({"time": times, "score": rng.standard_t(5, n_hours) * spread})


@pytest.mark.parametrize("bad", [0, 100, -5, 150, float("nan"), "eighty"])
def test_levels_outside_0_100_are_refused_with_the_fix(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="level|number"):
        check_levels([bad])  # type: ignore[list-item]


def test_levels_and_column_names() -> None:
    assert check_levels([95, 80, 95.0]) == (80.0, 95.0)
    assert check_levels(None) == ()
    assert interval_columns([95, 80]) == ["lo_80", "hi_80", "lo_95", "hi_95"]


def test_coverage_is_nominal_by_hour_on_exchangeable_errors() -> None:
    """i.i.d. scores per hour of day: each hour's interval covers close to its level."""
    cal = ConformalIntervals(levels=(80, 95), window=24 * 3000, min_scores=50)
    past = _scores(24 * 2000, seed=1, start="2019-07-01 01:00")  # errors known before
    future = _scores(24 * 1000, seed=2, start="2025-01-01 01:00")  # the forecasts' errors
    # forecasts 100 with scale 1: the bounds are 100 + score quantiles; truth 100 + the error
    q = pd.DataFrame({"time": future["time"], "y_pred": 100.0, "scale": 1.0})
    b = cal.apply(q, past, lead=1) - 100.0
    hour = local_hours(future["time"])
    for level in (80, 95):
        inside = (future["score"] >= b[f"lo_{level}"]) & (future["score"] <= b[f"hi_{level}"])
        assert abs(inside.mean() - level / 100) < 0.02
        per_hour = inside.groupby(hour).mean()
        assert (per_hour - level / 100).abs().max() < 0.06  # about 4 standard errors
    width = (b["hi_80"] - b["lo_80"]).groupby(hour).mean()
    assert width.loc[8] > 2 * width.loc[3]  # the busy hours get wider intervals


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    lead=st.integers(1, 30),
    query=st.integers(24 * 20, 24 * 40),
    step=st.sampled_from([1, 24]),
)
def test_errors_after_the_origin_never_change_an_interval(
    seed: int, lead: int, query: int, step: int
) -> None:
    """Property: replacing every score whose truth was not known at the origin changes nothing."""
    cal = ConformalIntervals(levels=(50, 90), window=24 * 7, step=step, min_scores=20)
    scores = _scores(24 * 45, seed)
    t = scores["time"].iloc[query]
    q = pd.DataFrame({"time": [t], "y_pred": [100.0], "scale": [10.0]})
    before = cal.apply(q, scores, lead=lead)
    future = scores["time"] > t - lead * H
    changed = scores.copy()
    rng = np.random.default_rng(seed + 1)
    changed.loc[future, "score"] = rng.normal(50.0, 30.0, int(future.sum()))
    pd.testing.assert_frame_equal(before, cal.apply(q, changed, lead=lead))
    dropped = scores.loc[~future]
    pd.testing.assert_frame_equal(before, cal.apply(q, dropped, lead=lead))
    p_before = cal.state_probabilities(q, scores, lead)
    np.testing.assert_array_equal(p_before, cal.state_probabilities(q, changed, lead))


def test_scales_read_only_data_known_at_the_origin() -> None:
    rng = np.random.default_rng(0)
    times = pd.date_range("2024-01-01 01:00", periods=24 * 20, freq="h", tz="UTC")
    panel = pd.DataFrame({"arc_id": 7, "time": times, "flow": rng.gamma(2, 100, len(times))})
    rows = panel[["arc_id", "time"]].iloc[[300, 400]].reset_index(drop=True)
    cal = ConformalIntervals()
    lead = 3
    before = cal.scales(panel, rows, lead)
    changed = panel.copy()
    changed.loc[changed["time"] > rows["time"].iloc[0] - lead * H, "flow"] = 1e6
    after = cal.scales(changed, rows, lead)
    assert before[0] == after[0] and before[1] != after[1]
    # the level: the mean of the week ending at t - lead
    t = rows["time"].iloc[0]
    week = panel[(panel["time"] <= t - lead * H) & (panel["time"] > t - (lead + 168) * H)]
    assert before[0] == pytest.approx(week["flow"].mean())


def test_few_scores_use_the_newest_of_the_same_hour() -> None:
    """With fewer than min_scores in the window, the newest scores of that hour are taken."""
    cal = ConformalIntervals(levels=(80,), window=24, min_scores=30, step=1)
    scores = _scores(24 * 60, seed=5)
    t = scores["time"].iloc[-1]
    q = pd.DataFrame({"time": [t], "y_pred": [0.0], "scale": [1.0]})
    hours = local_hours(q["time"])
    groups = list(cal._groups(q["time"], hours, scores, lead=1))
    assert len(groups) == 1 and len(groups[0][1]) == 30
    hour = local_hours(pd.DatetimeIndex([t]))[0]
    same = scores[(local_hours(scores["time"]) == hour) & (scores["time"] <= t - H)]
    np.testing.assert_array_equal(groups[0][1], np.sort(same["score"].to_numpy()[-30:]))


def test_no_scores_give_no_interval() -> None:
    cal = ConformalIntervals()
    q = pd.DataFrame(
        {"time": pd.DatetimeIndex(["2024-01-01 01:00"], tz="UTC"), "y_pred": [1.0], "scale": [1.0]}
    )
    out = cal.apply(q, pd.DataFrame({"time": pd.DatetimeIndex([], tz="UTC"), "score": []}), 1)
    assert out.isna().all().all()


def test_state_probabilities_follow_the_predictive_distribution() -> None:
    # occupancy forecasts 10 %, 40 % and 60 % with scale 10; scores -1 .. 1
    scores = np.linspace(-1.0, 1.0, 201)
    p = state_probabilities([10.0, 40.0, 60.0, np.nan], [10.0, 10.0, 10.0, 10.0], scores)
    assert np.allclose(p[:3].sum(axis=1), 1.0) and np.isnan(p[3]).all()
    # 10 + 10 r < 15 for r < 0.5: 150 of 201 scores
    assert p[0, 0] == pytest.approx(150 / 201) and p[0, 1] == pytest.approx(51 / 201)
    assert p[1].argmax() == 2 and p[2].argmax() == 3
