from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from forecaster_cases import contract_panel

import infotrafic.forecasters._persist as persist
from infotrafic.exceptions import (
    ConfigurationError,
    FileFormatError,
    ModelCompatibilityError,
    NotFittedError,
)
from infotrafic.features import FeatureSpec, Lags, Rolling
from infotrafic.forecasters import (
    GBMForecaster,
    NaiveForecaster,
    SeasonalNaiveForecaster,
    available_forecasters,
    load_forecaster,
    make_forecaster,
    read_forecaster_header,
    register_forecaster,
    save_forecaster,
)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return contract_panel(weeks=3)


def test_save_load_round_trip_with_header(panel: pd.DataFrame, tmp_path: Path) -> None:
    model = GBMForecaster(backend="lightgbm", max_iter=5, max_leaf_nodes=4).fit(panel)
    path = save_forecaster(model, tmp_path / "sub" / "gbm.joblib")
    header = read_forecaster_header(path)
    assert header["class"] == "infotrafic.forecasters._gbm.GBMForecaster"
    assert header["infotrafic_version"] == persist.__version__
    spec = FeatureSpec.from_dict(header["feature_spec"])
    assert spec == model.feature_spec()
    json.dumps(header)
    again = load_forecaster(path)
    targets = panel[["arc_id", "time"]].tail(20)
    np.testing.assert_array_equal(again.predict(panel, targets), model.predict(panel, targets))
    assert [p.name for p in path.parent.iterdir()] == ["gbm.joblib"]  # no temp file left


def test_incompatible_version_is_refused(
    panel: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_forecaster(NaiveForecaster().fit(panel), tmp_path / "m.joblib")
    original = persist.__version__
    monkeypatch.setattr(persist, "__version__", "9.7.0")
    with pytest.raises(ModelCompatibilityError, match=r"saved with infotrafic .*this is 9\.7\.0"):
        load_forecaster(path)
    monkeypatch.setattr(persist, "__version__", original.rsplit(".", 1)[0] + ".99")
    assert isinstance(load_forecaster(path), NaiveForecaster)  # patch versions are compatible


def test_unfitted_and_foreign_files(panel: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(NotFittedError):
        save_forecaster(NaiveForecaster(), tmp_path / "x.joblib")
    bad = tmp_path / "bad.joblib"
    bad.write_bytes(b"hello\n")
    with pytest.raises(FileFormatError, match="not an infotrafic forecaster"):
        load_forecaster(bad)


def test_registry() -> None:
    names = available_forecasters()
    for n in ("naive", "seasonal_naive", "historical_average", "gbm", "darts:<Model>"):
        assert n in names
    assert isinstance(make_forecaster("seasonal_naive", season=24), SeasonalNaiveForecaster)
    with pytest.raises(ConfigurationError, match="unknown forecaster 'nope'"):
        make_forecaster("nope")
    with pytest.raises(ConfigurationError, match="already registered"):
        register_forecaster("naive", NaiveForecaster)
    register_forecaster("test_fam:", lambda model, **kw: NaiveForecaster(**kw), overwrite=True)
    assert make_forecaster("test_fam:Anything", horizon=2).horizon == 2


def test_naive_and_seasonal_naive_exact_values() -> None:
    times = pd.date_range("2024-01-01 01:00", periods=400, freq="h", tz="UTC")
    flow = np.arange(400, dtype=float)
    flow[200] = np.nan
    panel = pd.DataFrame({"arc_id": 1, "time": times, "flow": flow})
    targets = pd.DataFrame({"arc_id": 1, "time": times[[201, 300, 399]]})
    assert np.isnan(NaiveForecaster().fit(panel).predict(panel, targets)[0])
    assert NaiveForecaster(fill="last").fit(panel).predict(panel, targets).tolist() == [
        199.0,
        299.0,
        398.0,
    ]
    assert NaiveForecaster(horizon=3).fit(panel).predict(panel, targets)[1] == 297.0
    snaive = SeasonalNaiveForecaster().fit(panel).predict(panel, targets)
    assert snaive.tolist() == [33.0, 132.0, 231.0]  # exactly y(t - 168)
    # lead 170 > one season: two weeks back
    far = SeasonalNaiveForecaster(horizon=170).fit(panel).predict(panel, targets)
    assert np.isnan(far[0]) and far[2] == 399.0 - 336


def test_gbm_learns_the_synthetic_pattern(panel: pd.DataFrame) -> None:
    """Synthetic sanity check (not an accuracy claim): beats persistence on a clean pattern."""
    cut = panel.time.max() - pd.Timedelta(days=4)
    train, test = panel[panel.time <= cut], panel[(panel.time > cut) & panel.flow.notna()]
    targets = test[["arc_id", "time"]]
    gbm = GBMForecaster(backend="lightgbm", max_iter=100).fit(train)
    naive = NaiveForecaster().fit(train)
    err_gbm = np.nanmean(np.abs(gbm.predict(panel, targets) - test.flow.to_numpy()))
    err_naive = np.nanmean(np.abs(naive.predict(panel, targets) - test.flow.to_numpy()))
    assert err_gbm < 0.8 * err_naive


def test_gbm_options(panel: pd.DataFrame) -> None:
    with pytest.raises(ConfigurationError, match="backend"):
        GBMForecaster(backend="xgboost").fit(panel)  # type: ignore[arg-type]
    spec = FeatureSpec(())
    with pytest.raises(ConfigurationError, match="normalize=True needs"):
        GBMForecaster(features=spec).fit(panel)
    from infotrafic.features import Lags

    plain = GBMForecaster(
        features=FeatureSpec((Lags(lags=(1, 24)),)), normalize=False, max_iter=5, horizon=2
    )
    with pytest.raises(ConfigurationError, match="below the lead"):
        plain.fit(panel)
    ok = GBMForecaster(features=FeatureSpec((Lags(lags=(2, 24)),)), normalize=False, max_iter=5)
    ok.set_params(horizon=2).fit(panel)
    assert ok.n_train_rows_ > 0
    small = GBMForecaster(max_iter=5, max_train_rows=100, train_window=24 * 7).fit(panel)
    assert small.n_train_rows_ == 100


def test_gbm_sampling_and_weighting_options(panel: pd.DataFrame) -> None:
    for bad in ({"subsample": 0.0}, {"colsample": 1.5}):
        with pytest.raises(ConfigurationError, match="must be in"):
            GBMForecaster(max_iter=5, **bad).fit(panel)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="needs normalize=True"):
        GBMForecaster(max_iter=5, normalize=False, weight_by_level=True).fit(panel)
    targets = panel[panel.flow.notna()][["arc_id", "time"]].tail(48)

    def pred(**kw: object) -> np.ndarray:
        model = GBMForecaster(backend="lightgbm", max_iter=30, **kw)  # type: ignore[arg-type]
        return model.fit(panel).predict(panel, targets)

    base = pred()
    assert np.array_equal(base, pred(), equal_nan=True)  # seeded bagging: reproducible
    # the level weights and the row/feature sampling each change the fitted model
    assert not np.allclose(base, pred(weight_by_level=True), equal_nan=True)
    assert not np.allclose(base, pred(subsample=1.0, colsample=1.0), equal_nan=True)
    sk = GBMForecaster(backend="sklearn", max_iter=5, colsample=0.5).fit(panel)
    assert sk.model_.max_features == 0.5


def test_gbm_dropna_learns_from_complete_rows_only(panel: pd.DataFrame) -> None:
    spec = FeatureSpec((Lags("flow", lags=(1, 2, 168)),))
    model = GBMForecaster(features=spec, normalize=False, max_iter=5, max_train_rows=None)
    X = model.build_features(panel)
    labelled = X["y"].notna()
    complete = labelled & X[spec.feature_names()].notna().all(axis=1)
    assert complete.sum() < labelled.sum()  # the first week has no lag 168, gaps no lag 1
    assert model.fit_features(X).n_train_rows_ == labelled.sum()
    dropped = GBMForecaster(
        features=spec, normalize=False, max_iter=5, max_train_rows=None, dropna=True
    ).fit_features(X)
    assert dropped.n_train_rows_ == complete.sum()
    # rows with a missing feature are predicted by default, not with dropna (as Darts)
    incomplete = X[labelled & ~complete]
    assert np.isfinite(model.predict_features(incomplete)).all()
    assert np.isnan(dropped.predict_features(incomplete)).all()
    assert np.isfinite(dropped.predict_features(X[complete])).all()
    with pytest.raises(ConfigurationError, match="dropna"):
        dropped.fit_features(X[labelled & ~complete])


def test_gbm_n_models_averages_seeded_boosters(panel: pd.DataFrame) -> None:
    for bad in (0, 1.5, True):
        with pytest.raises(ConfigurationError, match="n_models must be an integer"):
            GBMForecaster(max_iter=5, n_models=bad).fit(panel)  # type: ignore[arg-type]
    targets = panel[panel.flow.notna()][["arc_id", "time"]].tail(48)
    one = GBMForecaster(backend="lightgbm", max_iter=20, target_forms="ratio").fit(panel)
    two = GBMForecaster(backend="lightgbm", max_iter=20, target_forms="ratio", n_models=2).fit(
        panel
    )
    assert len(one.models_) == 1 and len(two.models_) == 2
    # the first booster is the single model's (same seed); the second differs by its seed only
    X = two.build_features(panel, targets=targets)
    mat, scale = two._design(X, two.feature_names_, two.units_)
    p0, p1 = (m.predict(mat) for m in two.models_)
    np.testing.assert_allclose(p0, one.model_.predict(mat))
    assert not np.allclose(p0, p1)
    want = np.maximum((p0 + p1) / 2 * scale, 0.0)
    np.testing.assert_allclose(two.predict(panel, targets), want, rtol=1e-6)


@pytest.mark.parametrize("backend", ["lightgbm", "sklearn"])
def test_gbm_targets_average_one_booster_per_form(panel: pd.DataFrame, backend: str) -> None:
    for bad in ("levels", (), ("log", "log"), ("ratio", "cube")):
        with pytest.raises(ConfigurationError, match="target_forms must be one or more distinct"):
            GBMForecaster(max_iter=5, target_forms=bad).fit(panel)  # type: ignore[arg-type]
    lags = FeatureSpec((Lags("flow", lags=(2, 168)), Rolling("flow", windows=(168,))))
    with pytest.raises(ConfigurationError, match="need the last flow among the features"):
        GBMForecaster(features=lags, max_iter=5, target_forms="change").fit(panel)
    # "auto": the log, log-change and change forms when the last flow is a feature, else the
    # two forms that need no last flow
    assert GBMForecaster(features=lags, max_iter=5).fit(panel).model_targets_ == ["log", "ratio"]
    auto = GBMForecaster(max_iter=5).fit(panel)
    assert auto.model_targets_ == ["log", "log_change", "change"] and len(auto.models_) == 3
    targets = panel[panel.flow.notna()][["arc_id", "time"]].tail(48)
    kw = {"backend": backend, "max_iter": 20}
    forms = ("ratio", "change", "log", "log_change")
    every = GBMForecaster(target_forms=forms, n_models=2, **kw).fit(panel)  # type: ignore[arg-type]
    assert every.model_targets_ == [*forms, *forms] and len(every.models_) == 8
    X = every.build_features(panel, targets=targets)
    mat, s = every._design(X, every.feature_names_, every.units_)
    last = X["flow_last_lag1"].to_numpy()
    a = np.where(np.isnan(last), s, last)
    raw = [np.asarray(m.predict(mat), dtype=float) for m in every.models_]
    # each booster's output maps back to vehicles/hour through its own form
    inverse = {
        "ratio": lambda p: p * s,
        "change": lambda p: p * s + a,
        "log": lambda p: np.expm1(p + np.log1p(s)),
        "log_change": lambda p: np.expm1(p + np.log1p(a)),
    }
    flows = [inverse[form](p) for form, p in zip(every.model_targets_, raw, strict=True)]
    want = np.maximum(np.mean(flows, axis=0), 0.0)
    np.testing.assert_allclose(every.predict(panel, targets), want, rtol=1e-6)
    # booster k has seed random_state + k and is the one fitted alone on its form and seed
    # (the binning shared by the boosters changes nothing)
    for k, form in enumerate(every.model_targets_):
        alone = GBMForecaster(target_forms=form, random_state=k, **kw).fit(panel)  # type: ignore[arg-type]
        np.testing.assert_allclose(alone.models_[0].predict(mat), raw[k], rtol=1e-9)
    # the forms learn differently, and each is a sensible flow forecast
    truth = X["y"].to_numpy()
    errors = [np.nanmean(np.abs(f - truth)) for f in flows[:4]]
    naive = np.nanmean(np.abs(a - truth))
    assert len({round(e, 6) for e in errors}) == 4
    assert max(errors) < naive
