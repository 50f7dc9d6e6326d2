"""``SklearnForecaster`` / ``sklearn:<dotted.path>``: the shared contract, real data, options."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from forecaster_cases import contract_panel
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags

from infotrafic.datasets import load_sample
from infotrafic.exceptions import ConfigurationError
from infotrafic.features import FeatureSpec, Lags, Rolling
from infotrafic.forecasters import (
    BaseForecaster,
    GBMForecaster,
    SeasonalNaiveForecaster,
    SklearnForecaster,
    TabularForecaster,
    available_forecasters,
    load_forecaster,
    make_forecaster,
    read_forecaster_header,
    requires_refit,
    save_forecaster,
)
from infotrafic.testing import CheckData, check_forecaster
from infotrafic.testing._check import CHECKS

RIDGE = "sklearn:sklearn.linear_model.Ridge"
HGB = "sklearn:sklearn.ensemble.HistGradientBoostingRegressor"


def _by_name(name: str, **params: Any) -> Callable[..., Any]:
    def factory(**kw: Any) -> Any:
        return make_forecaster(name, **params, **kw)

    return factory


CASES = [
    pytest.param("sklearn_ridge", _by_name(RIDGE, alpha=1.0), id="sklearn_ridge"),
    pytest.param(
        "sklearn_ridge_drop_log",
        _by_name(
            RIDGE,
            missing="drop",
            target_form="log",
            features=FeatureSpec(
                (Lags("flow", lags=(3, 24, 168)), Rolling("flow", windows=(168,)))
            ),
        ),
        id="drop",
    ),
    pytest.param("sklearn_hgb", _by_name(HGB, max_iter=15, max_leaf_nodes=7), id="sklearn_hgb"),
]


# -- the shared contract (check_forecaster, as tests/forecasters/test_contract.py), on sklearn: --
@pytest.fixture(scope="module")
def data() -> CheckData:
    return CheckData.bundled()


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return contract_panel()


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize(("name", "factory"), CASES)
def test_contract(name: str, factory: Callable[..., Any], check: str, data: CheckData) -> None:
    check_forecaster(factory(), checks=[check], data=data)


# -- real data: the bundled sample (3 Paris arcs) ------------------------------------------------
@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_sample()


def _real_split(sample: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    cut = pd.Timestamp("2023-10-01", tz="UTC")
    train = sample[sample["time"] <= cut]
    test = sample[
        (sample["time"] > cut)
        & (sample["time"] <= cut + pd.Timedelta(days=14))
        & sample["flow"].notna()
    ]
    return train, test, cut


@pytest.mark.parametrize("name", [RIDGE, HGB])
def test_real_sample_fit_predict_beats_seasonal_naive(name: str, sample: pd.DataFrame) -> None:
    train, test, _ = _real_split(sample)
    targets = test[["arc_id", "time"]]
    model = make_forecaster(name)
    assert isinstance(model, TabularForecaster) and requires_refit(model)
    pred = model.fit(train).predict(sample, targets)
    assert pred.dtype == np.float64 and pred.shape == (len(targets),)
    assert np.isfinite(pred).all() and (pred >= 0).all()
    snaive = SeasonalNaiveForecaster().fit(train).predict(sample, targets)
    truth = test["flow"].to_numpy()
    ok = np.isfinite(snaive)
    mae = np.abs(pred - truth)[ok].mean()
    assert mae < np.abs(snaive - truth)[ok].mean()  # 1 h ahead on real arcs: well below it


def test_real_sample_no_leakage_after_origin(sample: pd.DataFrame) -> None:
    """Altering or deleting the data after an origin leaves its predictions as they are."""
    train, test, cut = _real_split(sample)
    lead = 3
    model = make_forecaster(RIDGE, horizon=2, delay=1).fit(train)
    origin = cut + pd.Timedelta(days=5)
    targets = test.loc[test["time"] > origin, ["arc_id", "time"]]
    at = targets[targets["time"] <= origin + pd.Timedelta(hours=lead)]  # issued at the origin
    assert len(at) >= 6
    want = model.predict(sample, at)
    assert np.isfinite(want).all()
    after = sample["time"] > origin
    rng = np.random.default_rng(1)
    changed = sample.copy()
    changed.loc[after, "flow"] = rng.uniform(0, 5000, int(after.sum()))
    changed.loc[after, "occupancy"] = np.nan
    np.testing.assert_array_equal(model.predict(changed, at), want)
    np.testing.assert_array_equal(model.predict(sample[~after], at), want)


def test_occupancy_target_is_clipped(sample: pd.DataFrame) -> None:
    train, test, _ = _real_split(sample)
    model = make_forecaster(RIDGE, target="occupancy").fit(train)
    pred = model.predict(sample, test[["arc_id", "time"]])
    assert np.isfinite(pred).mean() > 0.9
    assert np.nanmin(pred) >= 0.0 and np.nanmax(pred) <= 100.0
    assert model.feature_spec().target == "occupancy"


# -- construction, registry, errors -------------------------------------------------------------
def test_make_forecaster_splits_parameters() -> None:
    assert f"{RIDGE.split(':')[0]}:<dotted.path>" in available_forecasters()
    model = make_forecaster(RIDGE, alpha=3.0, horizon=2, max_train_rows=1000, random_state=5)
    assert isinstance(model, SklearnForecaster) and isinstance(model, BaseForecaster)
    assert model.estimator == "sklearn.linear_model.Ridge"
    assert model.estimator_params == {"alpha": 3.0}
    assert (model.horizon, model.max_train_rows, model.random_state) == (2, 1000, 5)
    # the regressor's own random_state, max_iter ... through estimator_params when both have it
    hgb = make_forecaster(HGB, max_iter=10, estimator_params={"random_state": 7})
    assert hgb.estimator_params == {"random_state": 7, "max_iter": 10}
    assert hgb.random_state == 0
    # the bare scikit-learn name resolves to the public dotted path
    assert make_forecaster("sklearn:Ridge").estimator == "sklearn.linear_model.Ridge"


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("sklearn:nope.module.Ridge", {}, r"cannot import module 'nope\.module'"),
        ("sklearn:sklearn.linear_model.Rigde", {}, r"has no 'Rigde' \(did you mean .*Ridge"),
        ("sklearn:Rigde", {}, r"no scikit-learn regressor of that name \(did you mean Ridge"),
        ("sklearn:sklearn.linear_model.ridge_regression", {}, "not a class"),
        ("sklearn:sklearn.preprocessing.StandardScaler", {}, "not a scikit-learn regressor"),
        ("sklearn:sklearn.linear_model.LogisticRegression", {}, "not a scikit-learn regressor"),
        ("sklearn:pandas.DataFrame", {}, "not an estimator"),
        (RIDGE, {"alpah": 1.0}, r"sklearn:sklearn\.linear_model\.Ridge: .*alpah"),
        (RIDGE, {"estimator": Ridge()}, "named by the path"),
        ("sklearn:", {}, "dotted import path"),
    ],
)
def test_bad_names_and_parameters(name: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        make_forecaster(name, **params)
    assert "sklearn:sklearn.linear_model.Ridge" in str(info.value) or "alpah" in message


def test_estimator_instance_is_cloned_and_nested_params_work(panel: pd.DataFrame) -> None:
    ridge = Ridge(alpha=2.0)
    model = SklearnForecaster(ridge, max_train_rows=None)
    assert model.get_params()["estimator__alpha"] == 2.0
    model.set_params(estimator__alpha=5.0).fit(panel)
    fitted = model.estimator_[-1]
    assert fitted is not ridge and fitted.alpha == 5.0 and not hasattr(ridge, "coef_")
    twin = clone(model)
    assert repr(twin.get_params()) == repr(model.get_params())
    assert not hasattr(twin, "estimator_")
    with pytest.raises(ConfigurationError, match="not a scikit-learn regressor"):
        SklearnForecaster(StandardScaler()).fit(panel)
    # default: Ridge(); the seed reaches every random_state left at None
    assert isinstance(SklearnForecaster().fit(panel).estimator_[-1], Ridge)
    hgb = SklearnForecaster(HistGradientBoostingRegressor(max_iter=3), random_state=4).fit(panel)
    assert hgb.estimator_.random_state == 4
    kept = SklearnForecaster(
        HistGradientBoostingRegressor(max_iter=3, random_state=1), random_state=4
    ).fit(panel)
    assert kept.estimator_.random_state == 1


def test_missing_value_policy(panel: pd.DataFrame) -> None:
    ridge = SklearnForecaster(Ridge()).fit(panel)
    assert ridge.missing_ == "impute" and isinstance(ridge.estimator_, Pipeline)
    imputer = ridge.estimator_.named_steps["impute"]
    assert imputer.add_indicator and imputer.indicator_.features_.size > 0
    hgb = SklearnForecaster(HistGradientBoostingRegressor(max_iter=3)).fit(panel)
    assert hgb.missing_ == "passthrough"
    assert isinstance(hgb.estimator_, HistGradientBoostingRegressor)
    forced = SklearnForecaster(HistGradientBoostingRegressor(max_iter=3), missing="impute")
    assert isinstance(forced.fit(panel).estimator_, Pipeline)
    with pytest.raises(ConfigurationError, match="missing='impute'"):
        SklearnForecaster(Ridge(), missing="passthrough").fit(panel)
    with pytest.raises(ConfigurationError, match="missing must be one of"):
        SklearnForecaster(missing="zero").fit(panel)  # type: ignore[arg-type]
    # drop: learn from and predict the complete rows only
    spec = FeatureSpec((Lags("flow", lags=(1, 2, 168)), Rolling("flow", windows=(168,))))
    drop = SklearnForecaster(features=spec, missing="drop", max_train_rows=None)
    X = drop.build_features(panel)
    known = X["y"].notna() & X["flow_rolling_mean_lag1_window168"].notna()
    complete = known & X[spec.feature_names()].notna().all(axis=1)
    assert drop.fit_features(X).n_train_rows_ == complete.sum() < known.sum()
    assert np.isnan(drop.predict_features(X[known & ~complete])).all()
    assert np.isfinite(drop.predict_features(X[complete])).all()
    imputed = SklearnForecaster(features=spec, max_train_rows=None).fit_features(X)
    assert imputed.n_train_rows_ == known.sum()
    assert np.isfinite(imputed.predict_features(X[known & ~complete])).all()


def test_normalisation_matches_gbm_and_options(panel: pd.DataFrame) -> None:
    model = SklearnForecaster(Ridge(), max_train_rows=None).fit(panel)
    gbm = GBMForecaster()
    assert model.feature_spec() == gbm.feature_spec()
    X = model.build_features(panel)
    rows = X[X["y"].notna() & X["flow_rolling_mean_lag1_window168"].notna()]
    mat, scale = gbm._design(rows, model.feature_names_, model.units_)
    ratio = model.estimator_.predict(mat.astype(np.float64))
    want = np.clip(ratio * scale, 0.0, None)
    np.testing.assert_allclose(model.predict_features(rows), want, rtol=1e-6)
    plain = SklearnForecaster(
        Ridge(), features=FeatureSpec((Lags(lags=(1, 24)),)), normalize=False
    ).fit(panel)
    assert plain.estimator_[-1].coef_.shape[-1] >= 2
    with pytest.raises(ConfigurationError, match="normalize=True needs"):
        SklearnForecaster(features=FeatureSpec((Lags(lags=(1,)),))).fit(panel)
    with pytest.raises(ConfigurationError, match="target_form must be one of"):
        SklearnForecaster(target_form="cube").fit(panel)  # type: ignore[arg-type]
    lags = FeatureSpec((Lags("flow", lags=(2, 168)), Rolling("flow", windows=(168,))))
    with pytest.raises(ConfigurationError, match="needs the last flow"):
        SklearnForecaster(features=lags, target_form="change").fit(panel)
    small = SklearnForecaster(max_train_rows=100).fit(panel)
    assert small.n_train_rows_ == 100


def test_tags() -> None:
    tags = get_tags(SklearnForecaster())
    assert tags.input_tags.allow_nan and tags.requires_fit
    assert not tags.non_deterministic


# -- persistence -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "model",
    [
        pytest.param(make_forecaster(RIDGE, alpha=2.0), id="by_name"),
        pytest.param(
            SklearnForecaster(Pipeline([("scale", StandardScaler()), ("ridge", Ridge())])),
            id="pipeline_instance",
        ),
        pytest.param(make_forecaster(HGB, max_iter=10), id="hgb"),
    ],
)
def test_save_load_round_trip(model: Any, panel: pd.DataFrame, tmp_path: Path) -> None:
    model.fit(panel)
    path = save_forecaster(model, tmp_path / "sk.joblib")
    header = read_forecaster_header(path)
    assert header["class"] == "infotrafic.forecasters._sklearn.SklearnForecaster"
    assert FeatureSpec.from_dict(header["feature_spec"]) == model.feature_spec()
    assert header["params"]["estimator"] in (
        "sklearn.linear_model.Ridge",
        "sklearn.ensemble.HistGradientBoostingRegressor",
        repr(model.estimator),
    )
    again = load_forecaster(path)
    assert isinstance(again, SklearnForecaster)
    targets = panel[["arc_id", "time"]].tail(48)
    np.testing.assert_array_equal(again.predict(panel, targets), model.predict(panel, targets))
