"""to_cross_validation on a real backtest of the bundled sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from infotrafic.backtest import BacktestResult, backtest
from infotrafic.datasets import load_sample
from infotrafic.exceptions import DataValidationError
from infotrafic.forecasters import make_forecaster
from infotrafic.interop import to_cross_validation

H = pd.Timedelta(hours=1)
MODELS = ("naive", "seasonal_naive")


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    models = {name: make_forecaster(name) for name in MODELS}
    return backtest(
        load_sample(), models, start="2023-06-01", end="2023-06-04", horizon=[1, 24], levels=[80]
    )


def _long(cv: pd.DataFrame, column_of: dict[str, str]) -> pd.DataFrame:
    """The cross-validation frame back to one row per model (independent of the pivot)."""
    parts = []
    for model, col in column_of.items():
        parts.append(
            cv[["unique_id", "ds", "cutoff", "y", col]]
            .rename(columns={col: "value"})
            .assign(model=model)
        )
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("horizon", [1, 24])
def test_one_horizon_matches_the_predictions(result: BacktestResult, horizon: int):
    pred = result.predictions
    cv = to_cross_validation(pred, horizon=horizon)
    levels = [f"{m}-{side}-80" for m in MODELS for side in ("lo", "hi")]
    assert cv.columns.tolist() == [
        "unique_id",
        "ds",
        "cutoff",
        "y",
        "naive",
        "naive-lo-80",
        "naive-hi-80",
        "seasonal_naive",
        "seasonal_naive-lo-80",
        "seasonal_naive-hi-80",
    ]
    assert set(levels) < set(cv.columns)
    assert str(cv["unique_id"].dtype) == "int64" and cv["ds"].dt.tz is None
    assert ((cv["ds"] - cv["cutoff"]) == horizon * H).all()
    rows = pred[pred["horizon"] == horizon]
    assert len(cv) == len(rows) // len(MODELS)
    assert not cv.duplicated(["unique_id", "ds"]).any()
    for source, suffix in (("y_pred", ""), ("lo_80", "-lo-80"), ("hi_80", "-hi-80")):
        long = _long(cv, {m: f"{m}{suffix}" for m in MODELS})
        expected = rows.assign(
            unique_id=rows["arc_id"],
            ds=rows["time"].dt.tz_localize(None),
            cutoff=rows["origin"].dt.tz_localize(None),
            model=rows["model"].astype(str),
        )
        merged = expected.merge(long, on=["unique_id", "ds", "cutoff", "model"], how="outer")
        assert len(merged) == len(rows)
        np.testing.assert_array_equal(merged["value"], merged[source].astype("float64"))
        np.testing.assert_array_equal(merged["y"], merged["y_true"].astype("float64"))


def test_all_horizons_stay_unique_by_cutoff(result: BacktestResult):
    pred = result.predictions
    cv = to_cross_validation(pred, intervals=False)
    assert cv.columns.tolist() == ["unique_id", "ds", "cutoff", "y", *MODELS]
    assert len(cv) == len(pred) // len(MODELS)
    assert not cv.duplicated(["unique_id", "ds", "cutoff"]).any()
    assert set((cv["ds"] - cv["cutoff"]) // H) == {1, 24}
    pd.testing.assert_frame_equal(cv, to_cross_validation(pred, horizon=[1, 24], intervals=False))
    keys = ["unique_id", "ds", "cutoff"]
    assert cv[keys].equals(cv.sort_values(keys)[keys].reset_index(drop=True))


def test_time_conventions(result: BacktestResult):
    pred = result.predictions
    end = to_cross_validation(pred, horizon=1)
    start = to_cross_validation(pred, horizon=1, label="start", naive=False)
    assert str(start["ds"].dt.tz) == "UTC"
    assert (start["ds"].dt.tz_localize(None) == end["ds"] - H).all()
    assert (start["cutoff"].dt.tz_localize(None) == end["cutoff"] - H).all()


def test_utilsforecast_scores_it_like_the_report(result: BacktestResult):
    evaluation = pytest.importorskip("utilsforecast.evaluation")
    losses = pytest.importorskip("utilsforecast.losses")
    for horizon in (1, 24):
        cv = to_cross_validation(result.predictions, horizon=horizon, intervals=False)
        cv = cv.dropna()  # the report scores the rows every model predicted
        # one score per (unique_id, cutoff): here one forecast each, so their mean is the MAE
        scores = evaluation.evaluate(cv, metrics=[losses.mae])
        assert len(scores) == len(cv)
        report = result.report.per_horizon
        for model in MODELS:
            expected = report.loc[(model, horizon), "mae"]
            assert scores[model].mean() == pytest.approx(expected, rel=1e-9)


def test_errors(result: BacktestResult):
    pred = result.predictions
    with pytest.raises(DataValidationError, match="no horizon \\[6\\]"):
        to_cross_validation(pred, horizon=6)
    with pytest.raises(DataValidationError, match="origin"):
        to_cross_validation(pred.drop(columns="origin"))
    with pytest.raises(DataValidationError, match="repeat"):
        to_cross_validation(pd.concat([pred, pred.head(1)]))
    renamed = pred.assign(model=pred["model"].cat.rename_categories({"naive": "y"}))
    with pytest.raises(DataValidationError, match="clash"):
        to_cross_validation(renamed)
