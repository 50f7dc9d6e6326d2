"""train -> save -> load -> forecast on the bundled real sample; bad inputs and bad model dirs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from infotrafic.datasets import load_sample
from infotrafic.exceptions import (
    ConfigurationError,
    FileFormatError,
    ModelCompatibilityError,
)
from infotrafic.forecasting import ForecastModel, fingerprint, forecast, load_model, train

H = pd.Timedelta(hours=1)
END = "2023-11-01"
AT = "2023-11-08 08:00"


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return load_sample()


@pytest.fixture(scope="module")
def model(panel: pd.DataFrame) -> ForecastModel:
    return train(panel, "seasonal_naive", horizons=[1, 6, 24], end=END)


def test_train_records_what_it_learned_from(model: ForecastModel, panel: pd.DataFrame) -> None:
    assert model.horizons == (1, 6, 24) and model.levels == (80.0, 95.0)
    assert model.targets == ("flow", "occupancy")
    assert set(model.forecasters) == {(t, h) for t in ("flow", "occupancy") for h in (1, 6, 24)}
    assert all(f.horizon == h for (_, h), f in model.forecasters.items())  # type: ignore[attr-defined]
    assert model.training["end"] == pd.Timestamp("2023-10-31 23:00", tz="UTC").isoformat()
    used = panel[panel["time"] < pd.Timestamp(model.training["end"])]
    assert model.training["fingerprint"] == fingerprint(used)
    assert model.training["rows"] == len(used)
    # calibration errors: the last 28 days before the end, for each series and horizon
    s = model.scores
    assert set(zip(s["target"], s["horizon"], strict=True)) == set(model.forecasters)
    assert s["time"].max() < pd.Timestamp(model.training["end"])
    assert s["time"].min() >= pd.Timestamp(model.training["end"]) - 28 * 24 * H


def test_forecast_one_row_per_arc_and_horizon(model: ForecastModel, panel: pd.DataFrame) -> None:
    out = forecast(model, panel, at=AT)
    assert list(out.columns) == [
        "arc_id",
        "issued_at",
        "time",
        "horizon",
        "flow",
        "lo_80",
        "hi_80",
        "lo_95",
        "hi_95",
        "occupancy",
        "state",
        "state_probability",
        "stale",
    ]
    assert len(out) == 3 * 3 and not out["stale"].any()
    issued = pd.Timestamp(AT, tz="Europe/Paris").tz_convert("UTC")
    assert (out["issued_at"] == issued).all()
    assert (out["time"] == issued + out["horizon"] * H).all()
    # seasonal naive: the flow of the same hour a week before the target
    obs = panel.set_index(["arc_id", "time"])["flow"]
    week = obs.reindex(pd.MultiIndex.from_arrays([out["arc_id"], out["time"] - 168 * H]))
    np.testing.assert_allclose(out["flow"].to_numpy(), week.to_numpy())
    assert (out["lo_95"] <= out["lo_80"]).all() and (out["hi_80"] <= out["hi_95"]).all()
    assert set(out["state"]) <= {"Fluide", "Pré-saturé", "Saturé", "Bloqué"}
    assert out["state_probability"].between(0.25, 1.0).all()


def test_forecast_uses_no_data_after_the_issue_time(
    model: ForecastModel, panel: pd.DataFrame
) -> None:
    base = forecast(model, panel, at=AT)
    issued = pd.Timestamp(AT, tz="Europe/Paris")
    later = panel.copy()
    future = later["time"] > issued
    later.loc[future, ["flow", "occupancy"]] = 9999.0
    pd.testing.assert_frame_equal(base, forecast(model, later, at=AT))
    cut = panel[panel["time"] <= issued]
    pd.testing.assert_frame_equal(base, forecast(model, cut))  # default: the last hour


def test_save_load_round_trip(model: ForecastModel, panel: pd.DataFrame, tmp_path: Path) -> None:
    path = model.save(tmp_path / "model")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["model"] == "seasonal_naive"
    assert manifest["training"]["fingerprint"] == model.training["fingerprint"]
    assert "flow_h06" in manifest["feature_specs"]
    again = load_model(path)
    pd.testing.assert_frame_equal(forecast(again, panel, at=AT), forecast(model, panel, at=AT))
    # saving again over it replaces it atomically and leaves no temporary directory
    model.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_failed_save_leaves_nothing(
    model: ForecastModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import infotrafic.forecasting._model as mod

    calls = {"n": 0}
    real = mod.save_forecaster

    def flaky(f: object, p: Path) -> Path:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(f, p)  # type: ignore[arg-type]

    monkeypatch.setattr(mod, "save_forecaster", flaky)
    with pytest.raises(OSError, match="disk full"):
        model.save(tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


def test_corrupted_or_foreign_model_dirs_are_refused(model: ForecastModel, tmp_path: Path) -> None:
    path = model.save(tmp_path / "m")
    target = path / "forecasters" / "flow_h06.joblib"
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match=r"flow_h06.joblib: checksum mismatch"):
        load_model(path)
    path = model.save(tmp_path / "m2")
    (path / "calibration.parquet").unlink()
    with pytest.raises(FileFormatError, match="calibration.parquet is missing"):
        load_model(path)
    path = model.save(tmp_path / "m3")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["infotrafic_version"] = "0.0.1"
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelCompatibilityError, match="trained with infotrafic 0.0.1"):
        load_model(path)
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(FileFormatError, match="corrupt manifest"):
        load_model(path)
    with pytest.raises(FileFormatError, match="no manifest.json"):
        load_model(tmp_path)
    with pytest.raises(FileFormatError, match="not a model directory"):
        load_model(tmp_path / "nowhere")


def test_at_after_the_data_names_the_last_hour(model: ForecastModel, panel: pd.DataFrame) -> None:
    with pytest.raises(ConfigurationError, match=r"after the last hour in the data \(2023-12-02"):
        forecast(model, panel, at="2024-01-01 00:00")


def test_unknown_arcs_warn_and_stale_arcs_have_no_numbers(
    model: ForecastModel, panel: pd.DataFrame
) -> None:
    with pytest.warns(UserWarning, match="arc.s. 999 not in the data"):
        out = forecast(model, panel, at=AT, arcs=[4264, 999])
    assert set(out["arc_id"]) == {4264}
    # arc 191 stops two days before the issue time: listed, stale, without numbers
    late = (panel["arc_id"] == 191) & (panel["time"] > pd.Timestamp("2023-11-06", tz="UTC"))
    gap = panel[~late]
    out = forecast(model, gap, at=AT)
    stale = out[out["arc_id"] == 191]
    assert stale["stale"].all() and len(stale) == 3
    assert stale[["flow", "lo_80", "occupancy", "state_probability"]].isna().all().all()
    assert stale["state"].isna().all()
    assert not out.loc[out["arc_id"] != 191, "stale"].any()


def test_forecasting_the_training_period_warns(model: ForecastModel, panel: pd.DataFrame) -> None:
    with pytest.warns(UserWarning, match="not out of sample"):
        forecast(model, panel, at="2023-10-01 08:00")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"horizons": [0]}, "at least 1"),
        ({"horizons": [25]}, "from 1 to 24"),
        ({"levels": [100]}, "outside"),
        ({"end": "2020-01-01"}, "no flow before"),
    ],
)
def test_bad_train_options(panel: pd.DataFrame, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises((ConfigurationError, ValueError), match=match):
        train(panel, "naive", **kwargs)  # type: ignore[arg-type]


def test_validation_backtest_calibrates_and_scores(panel: pd.DataFrame) -> None:
    m = train(panel, "naive", horizons=[1, 2], end=END, validate_start="2023-09-01")
    assert m.metrics is not None and m.validation is not None
    assert set(m.metrics["mae_per_horizon"]) == {"1", "2"}
    assert m.metrics["mae_per_horizon"]["1"] < m.metrics["mae_per_horizon"]["2"]
    assert 0.7 < m.metrics["coverage_80"] < 0.9
    assert "state_macro_f1" in m.metrics
    # the validation's own errors calibrated the model: the window before the end
    assert m.scores["time"].min() >= pd.Timestamp(END, tz="Europe/Paris") - 28 * 24 * H


def test_gbm_trains_and_forecasts_with_intervals(panel: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = train(panel, "gbm", horizons=[1, 3], end=END, params={"max_iter": 20}, state=False)
    out = forecast(m, panel, at=AT)
    assert m.targets == ("flow",) and out["occupancy"].isna().all() and out["state"].isna().all()
    assert out["flow"].notna().all() and (out["lo_80"] < out["hi_80"]).all()
    # the forecast's sparse build on one shared grid equals the forecaster's own prediction
    issued = pd.Timestamp(AT, tz="Europe/Paris").tz_convert("UTC")
    for h in (1, 3):
        rows = out.loc[out["horizon"] == h, ["arc_id", "time"]].reset_index(drop=True)
        own = m.forecasters[("flow", h)].predict(panel[panel["time"] <= issued], rows)
        np.testing.assert_allclose(out.loc[out["horizon"] == h, "flow"], own, rtol=1e-6)


def test_large_panels_sample_whole_hours_for_a_sparse_build(panel: pd.DataFrame) -> None:
    from infotrafic.features import SPARSE_SHARE
    from infotrafic.forecasters import GBMForecaster
    from infotrafic.forecasting._train import HOUR_OVERSAMPLING, _training_rows

    # 60 arcs (the sample's three, relabelled): a uniform sample of 1/64 would touch most hours
    panel = pd.concat(
        [panel.assign(arc_id=panel["arc_id"] * 100 + i) for i in range(20)], ignore_index=True
    )
    known = int(panel["flow"].notna().sum())
    small = int(known * SPARSE_SHARE / HOUR_OVERSAMPLING) // 2  # a panel 2x past the threshold
    model = GBMForecaster(max_train_rows=small, random_state=3)
    end = panel["time"].max()
    rows = _training_rows(model, panel, end, "flow")
    assert len(rows) == small and not rows.duplicated().any()
    share = rows["time"].nunique() / panel["time"].nunique()
    assert share <= SPARSE_SHARE  # few whole hours: the features are built for them only
    assert set(rows["arc_id"]) == set(panel.loc[panel["flow"].notna(), "arc_id"])
    assert rows["time"].dt.hour.nunique() == 24
    # an earlier cut (a calibration twin) picks among the same hours: one sparse build serves both
    early = _training_rows(model, panel, end - 28 * 24 * H, "flow")
    assert early["time"].max() <= end - 28 * 24 * H
    union = set(early["time"]) | set(rows["time"])
    assert len(union) / panel["time"].nunique() <= SPARSE_SHARE
    assert _training_rows(model, panel, end, "flow").equals(rows)  # deterministic
    # below the threshold: the uniform sample of the backtest engine, over every hour
    uniform = _training_rows(GBMForecaster(max_train_rows=known // 2), panel, end, "flow")
    assert uniform["time"].nunique() / panel["time"].nunique() > SPARSE_SHARE


def test_calibration_on_a_large_network_reads_a_random_set_of_whole_arcs(
    panel: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond ``CALIBRATION_ARCS`` arcs the calibration forecasts cover a seeded random set of
    whole arcs (their history only is read), every hour of the window."""
    import infotrafic.forecasting._train as mod

    big = pd.concat(
        [panel.assign(arc_id=panel["arc_id"] * 100 + i) for i in range(20)], ignore_index=True
    )
    end = pd.Timestamp(END, tz="Europe/Paris").tz_convert("UTC")
    window = mod._window_rows(big, end - 28 * 24 * H, end, "flow")
    assert window["arc_id"].nunique() > 40
    few = mod._calibration_rows(window, limit=2_000, max_arcs=10)
    assert few["arc_id"].nunique() == 10 and len(few) == 2_000 and not few.duplicated().any()
    assert few["time"].dt.hour.nunique() == 24 and few["time"].dt.date.nunique() >= 28
    assert few.equals(mod._calibration_rows(window, limit=2_000, max_arcs=10))  # seeded
    whole = mod._calibration_rows(window, limit=10**9, max_arcs=10)  # the arcs, every row
    assert set(whole["arc_id"]) == set(few["arc_id"])
    assert len(whole) == int(window["arc_id"].isin(set(few["arc_id"])).sum())
    # up to max_arcs: a uniform sample over every arc, as before
    assert mod._calibration_rows(window, limit=2_000, max_arcs=100)["arc_id"].nunique() == (
        window["arc_id"].nunique()
    )
    # train: errors of 2 of the sample's arcs only, and the intervals still forecast every arc
    kw: dict[str, Any] = {"horizons": [1], "end": END, "state": False}
    every = train(panel, "seasonal_naive", **kw)
    monkeypatch.setattr(mod, "CALIBRATION_ARCS", 2)
    two = train(panel, "seasonal_naive", **kw)
    assert 0 < len(two.scores) < len(every.scores)
    out = forecast(two, panel, at=AT)
    assert out["lo_80"].notna().all() and (out["lo_80"] <= out["hi_80"]).all()


def test_without_a_final_refit_the_calibration_fits_are_served(panel: pd.DataFrame) -> None:
    """``refit_final=False``: one fit per series and horizon, the twin that the calibration
    errors come from, and the same calibration errors as with the final refit."""
    kw: dict[str, Any] = {"horizons": [1, 3], "end": END, "params": {"max_iter": 20}}
    twin = train(panel, "gbm", state=False, **kw)  # the default
    full = train(panel, "gbm", state=False, refit_final=True, **kw)
    end = pd.Timestamp(full.training["end"])
    assert pd.Timestamp(full.training["fit_end"]) == end
    assert pd.Timestamp(twin.training["fit_end"]) == end - 28 * 24 * H
    pd.testing.assert_frame_equal(twin.scores, full.scores)  # same twins, same errors
    for key, served in twin.forecasters.items():  # 28 days x 4 arcs fewer training rows
        fewer = full.forecasters[key].n_train_rows_ - served.n_train_rows_  # type: ignore[attr-defined]
        assert 2 * 28 * 24 < fewer <= 4 * 28 * 24
    # the served twins give the very forecasts their calibration errors measured
    out = forecast(twin, panel, at=AT)
    assert out["flow"].notna().all() and (out["lo_80"] < out["hi_80"]).all()


def test_a_forecaster_that_learns_nothing_is_fitted_on_one_hour(
    model: ForecastModel, panel: pd.DataFrame
) -> None:
    """Seasonal naive declares ``requires_refit = False``: its features are built for the
    last known hour only (not the whole history, gigabytes on the whole network), and it
    forecasts exactly the seasonal lag."""
    from infotrafic.forecasters import GBMForecaster, SeasonalNaiveForecaster, requires_refit
    from infotrafic.forecasting._train import _training_rows

    assert not requires_refit(SeasonalNaiveForecaster()) and requires_refit(GBMForecaster())
    end = pd.Timestamp(model.training["end"])
    rows = _training_rows(SeasonalNaiveForecaster(), panel, end, "flow")
    assert rows["time"].nunique() == 1 and rows["time"].iloc[0] <= end
    for f in model.forecasters.values():
        assert f.n_train_rows_ <= panel["arc_id"].nunique()  # type: ignore[attr-defined]
    out = forecast(model, panel, at=AT).set_index(["arc_id", "time"])
    lagged = panel.set_index(["arc_id", "time"])["flow"]
    at1 = out[out["horizon"] == 1]
    expected = lagged.reindex(
        pd.MultiIndex.from_arrays(
            [at1.index.get_level_values(0), at1.index.get_level_values(1) - 168 * H]
        )
    ).to_numpy()
    np.testing.assert_allclose(at1["flow"].to_numpy(), expected)
