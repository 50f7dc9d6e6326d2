"""The Darts adapter: conversions, local and global models, covariates, no look-ahead."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

pytest.importorskip("darts")

from infotrafic.exceptions import ConfigurationError, DataValidationError, NotFittedError
from infotrafic.forecasters import make_forecaster
from infotrafic.forecasters._darts import (
    DartsForecaster,
    frame_to_series,
    make_darts_forecaster,
    series_to_frame,
)

H = pd.Timedelta(hours=1)
LINEAR = {"model": "LinearRegressionModel", "model_params": {"lags": [-1, -2, -24]}}


def _panel(n_hours: int = 24 * 21, arcs: tuple[int, ...] = (11, 22), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.date_range("2023-03-20 01:00", periods=n_hours, freq="h", tz="UTC")  # spans DST
    frames = []
    for k, arc in enumerate(arcs):
        base = 300 + 200 * np.sin(np.arange(n_hours) * 2 * np.pi / 24 + k)
        flow = np.round(base + rng.normal(0, 20, n_hours))
        frames.append(
            pd.DataFrame({"arc_id": arc, "time": times, "flow": flow, "occupancy": flow / 40 + k})
        )
    return pd.concat(frames, ignore_index=True)


def _targets(panel: pd.DataFrame, since: pd.Timestamp) -> pd.DataFrame:
    return panel.loc[panel["time"] >= since, ["arc_id", "time"]].reset_index(drop=True)


def _truth_at(panel: pd.DataFrame, arcs: np.ndarray, times: pd.Series) -> np.ndarray:
    s = panel.set_index(["arc_id", "time"])["flow"]
    return s.reindex(pd.MultiIndex.from_arrays([arcs, times])).to_numpy()


def test_conversion_round_trip_naive_utc_and_grid() -> None:
    panel = _panel(48).drop(index=[3, 4])  # two absent hours of arc 11
    series = frame_to_series(panel)
    assert sorted(series) == [11, 22]
    s = series[11]
    assert s.time_index.tz is None
    assert s.time_index[0] == pd.Timestamp("2023-03-20 01:00")  # UTC wall clock, not Paris
    assert s.freq == pd.Timedelta(hours=1) and len(s) == 48
    assert np.isnan(s.values()[3:5, 0]).all()
    back = series_to_frame(series).dropna(subset=["flow"])
    assert str(back["time"].dtype) == "datetime64[ns, UTC]"
    expected = panel[["arc_id", "time", "flow"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(back.reset_index(drop=True), expected, check_dtype=False)


def test_naive_seasonal_keep_is_exactly_the_value_one_week_back() -> None:
    panel = _panel(24 * 21)
    panel.loc[panel.index[24 * 8 : 24 * 8 + 5], "flow"] = np.nan
    cut = panel["time"].min() + 24 * 14 * H
    f = make_forecaster("darts:NaiveSeasonal", K=168, missing="keep").fit(
        panel[panel["time"] < cut]
    )
    targets = _targets(panel, cut - 24 * 6 * H)
    pred = f.predict(panel, targets)
    expected = _truth_at(panel, targets["arc_id"].to_numpy(), targets["time"] - 168 * H)
    np.testing.assert_array_equal(pred, expected)  # NaN exactly where y(t - 168 h) is missing
    assert np.isnan(pred).sum() == 5


def test_global_model_predicts_and_ignores_the_future() -> None:
    panel = _panel()
    cut = panel["time"].min() + 24 * 14 * H
    f = DartsForecaster(**LINEAR).fit(panel[panel["time"] < cut])
    assert f.is_global_ and f.model_ is not None
    targets = _targets(panel, cut)
    pred = f.predict(panel, targets)
    truth = _truth_at(panel, targets["arc_id"].to_numpy(), targets["time"])
    assert np.isfinite(pred).all()
    assert np.mean(np.abs(pred - truth)) < 40  # noise sd is 20
    # values at or after a target's hour never change its prediction
    noisy = panel.copy()
    tau = targets["time"].iloc[100]
    late = noisy["time"] >= tau
    noisy.loc[late, "flow"] = 9999.0
    again = f.predict(noisy, targets)
    early = (targets["time"] <= tau).to_numpy()
    np.testing.assert_array_equal(again[early], pred[early])
    assert not np.array_equal(again[~early], pred[~early])


@pytest.mark.parametrize(("horizon", "delay"), [(1, 2), (3, 0)])
def test_lead_is_respected(horizon: int, delay: int) -> None:
    panel = _panel()
    cut = panel["time"].min() + 24 * 14 * H
    f = DartsForecaster(**LINEAR, horizon=horizon, delay=delay).fit(panel[panel["time"] < cut])
    targets = _targets(panel, cut).iloc[:50]
    pred = f.predict(panel, targets)
    assert np.isfinite(pred).all()
    lead = horizon + delay
    for row in (0, 17, 49):
        t = targets["time"].iloc[row]
        noisy = panel.copy()
        noisy.loc[noisy["time"] > t - lead * H, "flow"] = 0.0
        assert f.predict(noisy, targets.iloc[[row]])[0] == pytest.approx(pred[row])
        noisy = panel.copy()
        noisy.loc[noisy["time"] == t - lead * H, "flow"] += 500.0
        assert f.predict(noisy, targets.iloc[[row]])[0] != pytest.approx(pred[row])


def test_segments_policy_gives_nan_when_the_input_window_is_missing() -> None:
    panel = _panel()
    hole = panel["time"].min() + 24 * 15 * H
    panel.loc[(panel["arc_id"] == 11) & (panel["time"] == hole), "flow"] = np.nan
    panel.loc[(panel["arc_id"] == 11) & (panel["time"] == hole - 24 * 5 * H), "flow"] = np.nan
    cut = panel["time"].min() + 24 * 14 * H
    f = DartsForecaster(**LINEAR, fill=None).fit(panel[panel["time"] < cut])
    targets = pd.DataFrame(
        {"arc_id": [11, 11, 11, 11, 22], "time": [hole + k * H for k in (-1, 1, 2, 25, 1)]}
    )
    pred = f.predict(panel, targets)
    # lag 1 missing (hole + 1 h), lag 2 missing (hole + 2 h), lag 24 missing (hole + 24 h + 1h)
    assert np.isfinite(pred[0]) and np.isnan(pred[1]) and np.isnan(pred[2])
    assert np.isfinite(pred[3]) and np.isfinite(pred[4])


def test_local_model_is_refitted_per_origin() -> None:
    panel = _panel(24 * 10, arcs=(5,))
    cut = panel["time"].min() + 24 * 9 * H
    f = DartsForecaster(model="NaiveDrift").fit(panel[panel["time"] < cut])
    assert not f.is_global_ and set(f.models_) == {5} and not f.requires_refit
    targets = _targets(panel, cut).iloc[:3]
    pred = f.predict(panel, targets)
    y = panel["flow"].to_numpy()
    for k, t in enumerate(targets["time"]):
        n = int((t - panel["time"].min()) / H)  # history = first n values
        drift = (y[n - 1] - y[0]) / (n - 1)
        assert pred[k] == pytest.approx(y[n - 1] + drift)


def test_covariates_past_and_future() -> None:
    panel = _panel()
    cut = panel["time"].min() + 24 * 14 * H
    f = DartsForecaster(
        model="LinearRegressionModel",
        model_params={
            "lags": [-1, -24],
            "lags_past_covariates": [-1],
            "lags_future_covariates": [0],
        },
        covariates=["occupancy", "hour_sin", "hour_cos", "day_off"],
    ).fit(panel[panel["time"] < cut])
    assert f.past_covariates_ == ["occupancy"]
    assert f.future_covariates_ == ["hour_sin", "hour_cos", "day_off"]
    targets = _targets(panel, cut)
    pred = f.predict(panel, targets)
    assert np.isfinite(pred).all()
    # occupancy is read, but only up to the origin
    noisy = panel.copy()
    noisy.loc[noisy["time"] == targets["time"].iloc[0] - H, "occupancy"] += 50
    moved = f.predict(noisy, targets.iloc[[0, 1]])
    assert moved[0] != pytest.approx(pred[0]) and moved[1] == pytest.approx(pred[1])


def test_configuration_errors() -> None:
    panel = _panel(24 * 3)
    with pytest.raises(ConfigurationError, match="takes no past covariates"):
        DartsForecaster(model="NaiveSeasonal", covariates=["occupancy"]).fit(panel)
    with pytest.raises(ConfigurationError, match="unknown covariate"):
        DartsForecaster(model="NaiveSeasonal", covariates=["speed"]).fit(panel)
    with pytest.raises(ConfigurationError, match="not a Darts forecasting model"):
        make_forecaster("darts:NoSuchModel").fit(panel)
    with pytest.raises(ConfigurationError, match="horizon"):
        DartsForecaster(horizon=0).fit(panel)
    with pytest.raises(DataValidationError, match="consecutive observed hours"):
        DartsForecaster(model="NaiveSeasonal", model_params={"K": 168}).fit(panel)
    with pytest.raises(NotFittedError):
        DartsForecaster().predict(panel, panel[["arc_id", "time"]])


def test_registry_params_and_persistence() -> None:
    f = make_forecaster("darts:NaiveSeasonal", K=24, horizon=2)
    assert isinstance(f, DartsForecaster)
    assert f.get_params()["model_params"] == {"K": 24} and f.horizon == 2
    assert make_darts_forecaster("LinearRegressionModel", lags=[-1]).requires_refit
    panel = _panel()
    before = panel.copy()
    cut = panel["time"].min() + 24 * 14 * H
    fitted = DartsForecaster(**LINEAR).fit(panel[panel["time"] < cut])
    targets = _targets(panel, cut)
    pred = fitted.predict(panel, targets)
    pd.testing.assert_frame_equal(panel, before)  # inputs untouched
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(panel, targets), pred)
    twin = clone(fitted).fit(panel[panel["time"] < cut])  # deterministic refit
    np.testing.assert_array_equal(twin.predict(panel, targets), pred)
    template = pytest.importorskip("darts.models").LinearRegressionModel(lags=[-1, -2, -24])
    from_instance = DartsForecaster(model=template).fit(panel[panel["time"] < cut])
    np.testing.assert_allclose(from_instance.predict(panel, targets), pred)
    assert not template._fit_called  # the template itself is never fitted


def test_backtest_engine_agrees_with_seasonal_naive() -> None:
    backtest_mod = pytest.importorskip("infotrafic.backtest")
    panel = _panel(24 * 16)
    start = panel["time"].min() + 24 * 14 * H
    end = start + 24 * H
    res = backtest_mod.backtest(
        panel,
        {
            "darts": make_forecaster("darts:NaiveSeasonal", K=168, missing="keep"),
            "ours": make_forecaster("seasonal_naive"),
        },
        start=start,
        end=end,
        refit="12h",
    )
    p = res.predictions.pivot_table(index=["arc_id", "time"], columns="model", values="y_pred")
    assert len(p) == 48
    np.testing.assert_array_equal(p["darts"].to_numpy(), p["ours"].to_numpy())
