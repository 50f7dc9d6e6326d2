"""The Darts adapter's fill policy: weekly lags on gappy arcs, no look-ahead, old path kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("darts")

from infotrafic.backtest import BacktestConfig, check_no_future_use
from infotrafic.etl import read_files
from infotrafic.exceptions import ConfigurationError
from infotrafic.forecasters import make_forecaster
from infotrafic.forecasters._darts import DartsForecaster
from infotrafic.forecasters._fill import SEASON_HOURS, seasonal_fill
from infotrafic.interop import _arc_grids

H = pd.Timedelta(hours=1)
WEEKLY = {"model": "LinearRegressionModel", "model_params": {"lags": [-1, -2, -3, -24, -168]}}


def _gappy_panel(weeks: int = 6, arcs: tuple[int, ...] = (3, 4), seed: int = 1) -> pd.DataFrame:
    """Daily and weekly cycles, noise, isolated missing hours and one missing day per arc."""
    rng = np.random.default_rng(seed)
    n = 168 * weeks
    times = pd.date_range("2023-01-02 01:00", periods=n, freq="h", tz="UTC")
    frames = []
    for k, arc in enumerate(arcs):
        t = np.arange(n)
        flow = 400 + 250 * np.sin(2 * np.pi * t / 24 + k) + 80 * np.sin(2 * np.pi * t / 168)
        flow = np.round(flow + rng.normal(0, 15, n))
        flow[(rng.random(n) < 0.01) & (t >= 168 * 2)] = np.nan  # two clean weeks to start
        day = 168 * 2 + 24 * (k + 1)
        flow[day : day + 24] = np.nan
        frames.append(pd.DataFrame({"arc_id": arc, "time": times, "flow": flow}))
    panel = pd.concat(frames, ignore_index=True)
    return panel.loc[panel["flow"].notna() | (np.arange(len(panel)) % 2 == 0)]  # rows absent too


def _real_arc_191(shared_data: Path) -> pd.DataFrame:
    panel = read_files(sorted((shared_data / "exports").glob("arc191_*.csv.gz"))).panel
    return panel.loc[panel["arc_id"] == 191].reset_index(drop=True)


# ---------------------------------------------------------------------- the fill itself
def test_seasonal_fill_takes_the_same_hour_of_the_week_then_the_last_value() -> None:
    n = 3 * SEASON_HOURS
    x = np.arange(n, dtype="float64")
    x[[5, 5 + 168, 5 + 336]] = np.nan  # the same hour three weeks running
    x[200:210] = np.nan
    x[:2] = np.nan  # before anything is observed
    out = seasonal_fill(x)
    assert np.isnan(out[:2]).all()  # nothing observed before: stays missing
    # never observed at that hour of the week: the last observed value, the hour before
    assert (out[5], out[5 + 168], out[5 + 336]) == (4.0, 172.0, 340.0)
    np.testing.assert_array_equal(out[200:210], np.arange(200, 210) - 168.0)  # one week back
    observed = np.isfinite(x)
    np.testing.assert_array_equal(out[observed], x[observed])  # observations are untouched
    two = seasonal_fill(np.column_stack([x, x[::-1]]))
    np.testing.assert_array_equal(two[:, 0], out)  # columns are filled independently
    np.testing.assert_array_equal(two[:, 1], seasonal_fill(x[::-1]))


def test_seasonal_fill_is_causal() -> None:
    """Filling a prefix gives the prefix of the fill: no value comes from a later hour."""
    rng = np.random.default_rng(7)
    x = rng.normal(500, 100, 5 * SEASON_HOURS)
    x[rng.random(len(x)) < 0.3] = np.nan
    x[400:700] = np.nan
    full = seasonal_fill(x)
    assert np.isfinite(full[np.argmax(np.isfinite(x)) :]).all()
    for stop in (1, 169, 401, 650, 701, len(x) - 1):
        np.testing.assert_array_equal(seasonal_fill(x[:stop]), full[:stop])


# ---------------------------------------------------------------------- fill=None and keep
def test_fill_none_reproduces_the_strict_nan_policy() -> None:
    panel = _gappy_panel()
    cut = panel["time"].min() + 168 * 4 * H
    targets = panel.loc[panel["time"] >= cut, ["arc_id", "time"]].reset_index(drop=True)
    strict = DartsForecaster(**WEEKLY, fill=None).fit(panel[panel["time"] < cut])
    pred = strict.predict(panel, targets)
    # the old rule: a prediction exactly when the 168 hours before the target are all observed
    expected = np.empty(len(targets), dtype=bool)
    for idx, (index, values) in zip(
        targets.groupby("arc_id").groups.values(), _arc_grids(panel, "flow").values(), strict=True
    ):
        stops = ((targets.loc[idx, "time"].dt.tz_localize(None) - index[0]) // H).to_numpy()
        expected[idx] = [np.isfinite(values[s - 168 : s]).all() for s in stops]
    np.testing.assert_array_equal(np.isfinite(pred), expected)
    assert 0 < expected.mean() < 0.5  # the gaps really cost most forecasts
    filled = DartsForecaster(**WEEKLY).fit(panel[panel["time"] < cut]).predict(panel, targets)
    assert np.isfinite(filled).all()
    both = np.isfinite(pred)
    truth = panel.set_index(["arc_id", "time"])["flow"].reindex(pd.MultiIndex.from_frame(targets))
    ok = truth.notna().to_numpy() & both
    y = truth.to_numpy()
    assert np.mean(np.abs(filled[ok] - y[ok])) < 1.2 * np.mean(np.abs(pred[ok] - y[ok])) + 5


def test_keep_is_not_filled_and_bad_fill_is_rejected() -> None:
    panel = _gappy_panel(weeks=4, arcs=(3,))
    f = make_forecaster("darts:NaiveSeasonal", K=168, missing="keep")
    assert f.get_params()["fill"] == "seasonal"
    targets = panel.loc[panel["time"] >= panel["time"].min() + 168 * 3 * H, ["arc_id", "time"]]
    pred = f.fit(panel).predict(panel, targets)
    back = panel.set_index(["arc_id", "time"])["flow"].reindex(
        pd.MultiIndex.from_arrays([targets["arc_id"], targets["time"] - 168 * H])
    )
    np.testing.assert_array_equal(pred, back.to_numpy())  # NaN where a week back is missing
    assert np.isnan(pred).any()
    with pytest.raises(ConfigurationError, match="fill must be"):
        make_forecaster("darts:NaiveSeasonal", fill="linear").fit(panel)


def test_local_model_forecasts_from_the_filled_history() -> None:
    panel = _gappy_panel(weeks=4, arcs=(3,))
    targets = panel.loc[panel["time"] >= panel["time"].min() + 168 * 3 * H, ["arc_id", "time"]]
    pred = make_forecaster("darts:NaiveSeasonal", K=168).fit(panel).predict(panel, targets)
    index, values = _arc_grids(panel, "flow")[3]
    pos = ((targets["time"].dt.tz_localize(None) - index[0]) // H).to_numpy() - 168
    assert np.isnan(values[pos]).sum() >= 24  # a week back is missing for a day and more
    assert np.isfinite(pred).all()
    np.testing.assert_array_equal(pred, seasonal_fill(values)[pos])  # ... filled


# ---------------------------------------------------------------------- training targets
def test_missing_targets_are_never_learned_from() -> None:
    panel = _gappy_panel(weeks=4)
    f = DartsForecaster(**WEEKLY).fit(panel)
    for _, values in _arc_grids(panel, ["flow"]).values():
        data, runs = f._training_runs(values, f.min_train_length_, f.input_length_)
        observed = np.isfinite(values[:, 0])
        learned = np.zeros(len(values), dtype=bool)
        for a, b in runs:
            assert np.isfinite(data[a:b]).all()  # Darts gets complete inputs
            learned[a + f.input_length_ : b] = True  # the rows Darts makes samples of
        assert not (learned & ~observed).any()  # no filled target is learned
        reachable = observed.copy()
        reachable[: f.input_length_ + int(np.argmax(observed))] = False
        assert learned.sum() > 0.95 * reachable.sum()  # nearly every observed target is


# ---------------------------------------------------------------------- no look-ahead
def test_filled_forecasts_pass_the_backtest_leakage_check() -> None:
    panel = _gappy_panel(weeks=5)
    cfg = BacktestConfig.create(
        start="2023-01-30T01:00Z", end="2023-02-02T01:00Z", refit="1D", horizon=2, delay=1
    )
    model = make_forecaster("darts:LinearRegressionModel", lags=[-1, -2, -24, -168])
    assert check_no_future_use(panel, {"darts": model}, cfg) > 0


@pytest.mark.slow
def test_real_arc_forecast_at_t_ignores_everything_after_t(shared_data: Path) -> None:
    """Values *and* gaps after the issue time (what the fill sees) never move a forecast."""
    panel = _real_arc_191(shared_data)
    cut = pd.Timestamp("2023-11-01", tz="UTC")
    f = DartsForecaster(**WEEKLY, horizon=3).fit(panel[panel["time"] < cut])
    targets = panel.loc[(panel["time"] >= cut) & (panel["time"] < cut + 168 * 2 * H)]
    targets = targets[["arc_id", "time"]].reset_index(drop=True)
    pred = f.predict(panel, targets)
    rng = np.random.default_rng(0)
    grid = pd.date_range(cut, cut + 168 * 2 * H, freq="h")
    observed = panel.loc[panel["flow"].notna(), "time"]
    gaps = grid[~grid.isin(observed) & (grid > cut + 24 * H)]
    assert len(gaps) >= 2  # issued inside real gaps: a fill reading ahead would move forecasts
    for issued in (gaps[0], gaps[len(gaps) // 2], cut + 200 * H):
        later = panel["time"] > issued
        noisy = panel.copy()
        noisy.loc[later, "flow"] = rng.uniform(0, 2000, later.sum())
        noisy = noisy.loc[~later | (rng.random(len(noisy)) < 0.7)]  # new gaps after T
        again = f.predict(noisy, targets)
        guarded = (targets["time"] <= issued + 3 * H).to_numpy()
        np.testing.assert_array_equal(again[guarded], pred[guarded])
        assert not np.allclose(again[~guarded], pred[~guarded])


# ---------------------------------------------------------------------- real coverage
@pytest.mark.slow
def test_weekly_lags_predict_95_percent_of_a_real_gappy_arc(shared_data: Path) -> None:
    panel = _real_arc_191(shared_data)
    cut = pd.Timestamp("2023-11-01", tz="UTC")
    targets = panel.loc[(panel["time"] >= cut) & panel["flow"].notna()].reset_index(drop=True)
    y = targets["flow"].to_numpy()
    train = panel[panel["time"] < cut]
    strict = DartsForecaster(**WEEKLY, fill=None).fit(train)
    filled = DartsForecaster(**WEEKLY).fit(train)
    before = strict.predict(panel, targets[["arc_id", "time"]])
    after = filled.predict(panel, targets[["arc_id", "time"]])
    assert len(targets) > 600
    assert np.isfinite(before).mean() < 0.6  # the issue: most targets left unpredicted
    assert np.isfinite(after).mean() >= 0.95
    mae = np.nanmean(np.abs(after - y))
    week_back = panel.set_index("time")["flow"].reindex(targets["time"] - 168 * H).to_numpy()
    known = np.isfinite(week_back)
    assert mae < 0.9 * np.mean(np.abs(week_back[known] - y[known]))  # beats seasonal naive 168
