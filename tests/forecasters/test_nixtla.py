"""The mlforecast and statsforecast adapters: fits, errors, same as the libraries, no leak."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("mlforecast")
pytest.importorskip("statsforecast")

from forecaster_cases import contract_panel
from mlforecast import MLForecast
from sklearn.linear_model import Ridge
from statsforecast.models import SeasonalNaive, SimpleExponentialSmoothing

from infotrafic.backtest import BacktestConfig, backtest, check_no_future_use
from infotrafic.exceptions import ConfigurationError
from infotrafic.forecasters import make_forecaster
from infotrafic.forecasters._nixtla import (
    MLForecastForecaster,
    StatsForecastForecaster,
    _import,
)
from infotrafic.interop import to_nixtla


class CountingRidge(Ridge):  # type: ignore[misc]
    """A real Ridge that records the number of rows of every fit."""

    fits: ClassVar[list[int]] = []

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> CountingRidge:
        CountingRidge.fits.append(len(X))
        super().fit(X, y, sample_weight)
        return self


class CountingSeasonalNaive(SeasonalNaive):  # type: ignore[misc]
    """A real SeasonalNaive that records the length of every series it is fitted on."""

    fits: ClassVar[list[int]] = []

    def fit(self, y: Any, X: Any = None) -> CountingSeasonalNaive:
        CountingSeasonalNaive.fits.append(len(y))
        super().fit(y=y, X=X)
        return self


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return contract_panel(weeks=7)  # the default features read 5 weeks back


def _targets(panel: pd.DataFrame, since: pd.Timestamp) -> pd.DataFrame:
    return panel.loc[panel["time"] > since, ["arc_id", "time"]].reset_index(drop=True)


def _small_backtest(panel: pd.DataFrame) -> BacktestConfig:
    end = panel["time"].max()
    return BacktestConfig.create(
        start=end - pd.Timedelta(days=6), end=end, refit="2D", horizon=[1, 3], delay=1
    )


# ------------------------------------------------------------------ fits
def test_mlforecast_fits_once_whatever_the_number_of_targets(panel: pd.DataFrame) -> None:
    cut = panel["time"].max() - pd.Timedelta(days=7)
    CountingRidge.fits.clear()
    f = MLForecastForecaster(model=CountingRidge(), horizon=2).fit(panel[panel["time"] <= cut])
    assert CountingRidge.fits == [f.n_train_rows_]
    targets = _targets(panel, cut)
    assert len(targets) > 400
    pred = f.predict(panel, targets)
    assert np.isfinite(pred).mean() > 0.95
    f.predict(panel, targets.head(1))
    assert len(CountingRidge.fits) == 1  # predicting never refits


def test_mlforecast_in_a_backtest_fits_once_per_refit(panel: pd.DataFrame) -> None:
    CountingRidge.fits.clear()
    model = MLForecastForecaster(model=CountingRidge())
    result = backtest(panel, {"ml": model}, _small_backtest(panel))
    per_horizon = result.predictions.groupby("horizon", observed=True)["fitted_at"].nunique()
    assert len(CountingRidge.fits) == per_horizon.sum() == 6  # 3 refits x 2 horizons
    assert len(result.predictions) > 20 * len(CountingRidge.fits)


def test_statsforecast_fits_once_per_arc_never_per_target(panel: pd.DataFrame) -> None:
    cut = panel["time"].max() - pd.Timedelta(days=7)
    CountingSeasonalNaive.fits.clear()
    f = StatsForecastForecaster(model=CountingSeasonalNaive(season_length=24), horizon=3)
    f.fit(panel[panel["time"] <= cut])
    assert sorted(f.models_) == [10, 11, 12]
    assert len(CountingSeasonalNaive.fits) == 3
    assert all(type(m) is CountingSeasonalNaive for m in f.models_.values())
    pred = f.predict(panel, _targets(panel, cut))
    assert np.isfinite(pred).all()
    assert len(CountingSeasonalNaive.fits) == 3  # forward() reuses the fitted models


def test_statsforecast_in_a_backtest_fits_once_per_arc_and_refit(panel: pd.DataFrame) -> None:
    CountingSeasonalNaive.fits.clear()
    model = StatsForecastForecaster(model=CountingSeasonalNaive(season_length=24))
    result = backtest(panel, {"sf": model}, _small_backtest(panel))
    refits = result.predictions.groupby("horizon", observed=True)["fitted_at"].nunique().sum()
    assert len(CountingSeasonalNaive.fits) == 3 * refits == 18


@pytest.mark.parametrize(
    "name", ["mlforecast:sklearn.linear_model.Ridge", "statsforecast:SeasonalNaive"]
)
def test_occupancy_is_forecast_from_occupancy(panel: pd.DataFrame, name: str) -> None:
    cut = panel["time"].max() - pd.Timedelta(days=3)
    params = {"season_length": 24} if name.startswith("statsforecast") else {}
    targets = _targets(panel, cut)
    preds = {}
    for target in ("flow", "occupancy"):
        f = make_forecaster(name, target=target, horizon=2, **params)
        preds[target] = f.fit(panel[panel["time"] <= cut]).predict(panel, targets)
    truth = panel.set_index(["arc_id", "time"]).loc[pd.MultiIndex.from_frame(targets)]
    for target, pred in preds.items():
        error = np.nanmean(np.abs(pred - truth[target].to_numpy()))
        assert error < 0.5 * np.nanmean(truth[target]), (target, error)
    assert np.nanmedian(preds["occupancy"]) < 0.1 * np.nanmedian(preds["flow"])


def test_lightgbm_named_by_its_path_trains_quietly(
    panel: pd.DataFrame, capfd: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("lightgbm")
    f = make_forecaster("mlforecast:lightgbm.LGBMRegressor", n_estimators=5).fit(panel)
    assert f.mlf_.models_["model"].get_params()["verbose"] == -1
    assert capfd.readouterr().out == ""  # LightGBM's C++ log goes to stdout by default


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("mlforecast:sklearn.linear_model.Ridge", {"lags": [1, 24], "horizon": 2}, r"\[1\]"),
        ("mlforecast:sklearn.linear_model.Ridge", {"lags": [3], "delay": 3}, "newer than"),
        (
            "mlforecast:sklearn.linear_model.Ridge",
            {"lags": [24], "lag_transforms": {2: []}, "horizon": 3},
            r"lag\(s\) \[2\] are newer than horizon \+ delay = 3",
        ),
        ("mlforecast:sklearn.linear_model.Rigde", {}, "^mlforecast:sklearn.linear_model.Rigde"),
        ("mlforecast:sklearn.preprocessing.StandardScaler", {}, "^mlforecast:.*not a scikit"),
        ("mlforecast:sklearn.linear_model.Ridge", {"alpah": 1.0}, "^mlforecast:.*alpah"),
        ("statsforecast:SeasonalNaif", {}, "not a model class of statsforecast.models"),
        ("statsforecast:SeasonalNaive", {"season": 24}, "season"),
        ("statsforecast:ADIDA", {}, "ADIDA has no forward"),
        ("statsforecast:SimpleExponentialSmoothing", {"alpha": 0.3}, "no forward"),
    ],
)
def test_configuration_errors(
    panel: pd.DataFrame, name: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make_forecaster(name, **params).fit(panel)


def test_a_model_instance_without_forward_is_rejected(panel: pd.DataFrame) -> None:
    f = StatsForecastForecaster(model=SimpleExponentialSmoothing(alpha=0.3))
    with pytest.raises(ConfigurationError, match="SimpleExponentialSmoothing has no forward"):
        f.fit(panel)


def test_a_missing_package_names_the_extra() -> None:
    with pytest.raises(ConfigurationError, match=r"infotrafic\[nixtla\]"):
        _import("infotrafic_no_such_nixtla_package")


# ------------------------------------------------------------------ same as the libraries
def test_statsforecast_seasonal_naive_equals_the_builtin_where_a_season_back_is_observed(
    panel: pd.DataFrame,
) -> None:
    cut = panel["time"].max() - pd.Timedelta(days=5)
    train, targets = panel[panel["time"] <= cut], _targets(panel, cut)
    ours = make_forecaster("statsforecast:SeasonalNaive", season_length=24, horizon=3)
    builtin = make_forecaster("seasonal_naive", season=24, horizon=3)
    got = ours.fit(train).predict(panel, targets)
    want = builtin.fit(train).predict(panel, targets)
    seen = np.isfinite(want)
    assert 0.85 < seen.mean() < 1  # the synthetic panel misses about 5 % of hours
    np.testing.assert_allclose(got[seen], want[seen])
    assert np.isfinite(got).all()  # the gaps a season back are filled from earlier weeks


def test_mlforecast_equals_mlforecast_itself_on_a_complete_panel(panel: pd.DataFrame) -> None:
    full = panel[panel["arc_id"] < 12].copy()  # two arcs over the same hours
    full["flow"] = full.groupby("arc_id")["flow"].transform(
        lambda s: s.interpolate(limit_direction="both")
    )
    lags = [1, 2, 24]
    f = MLForecastForecaster(
        model="sklearn.linear_model.Ridge", lags=lags, lag_transforms={}, calendar=()
    ).fit(full)
    reference = MLForecast(models={"ridge": Ridge()}, freq="h", lags=lags)
    reference.fit(to_nixtla(full), static_features=[])
    expected = reference.predict(h=1)
    targets = pd.DataFrame(
        {"arc_id": expected["unique_id"], "time": expected["ds"].dt.tz_localize("UTC")}
    )
    np.testing.assert_allclose(f.predict(full, targets), expected["ridge"], rtol=1e-9)


# ------------------------------------------------------------------ no look-ahead
def test_no_future_use_in_a_backtest(panel: pd.DataFrame) -> None:
    models = {
        "ml": make_forecaster("mlforecast:sklearn.linear_model.Ridge"),
        "sf": make_forecaster("statsforecast:SeasonalNaive", season_length=24),
    }
    assert check_no_future_use(panel, models, _small_backtest(panel)) > 100
