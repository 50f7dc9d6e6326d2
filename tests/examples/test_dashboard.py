"""The Streamlit dashboard (examples/dashboard): its data helpers, and the app under AppTest."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "examples" / "dashboard" / "app.py"
sys.path.insert(0, str(APP.parent))

import dashboard_core as core  # noqa: E402

pytestmark = pytest.mark.examples

SAMPLE_ARCS = [191, 4264, 5672]
#: A lighter gbm than the default (400 iterations) to keep the tests short.
FAST_GBM = '{"gbm": {"max_iter": 80, "n_jobs": 1}}'


# -- helpers (no Streamlit) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "geometry",
    [
        '{"type": "LineString", "coordinates": [[2.30, 48.87], [2.31, 48.86]]}',
        {"type": "LineString", "coordinates": [[2.30, 48.87], [2.31, 48.86]]},
        {"type": "MultiLineString", "coordinates": [[[2.30, 48.87]], [[2.31, 48.86]]]},
        "LINESTRING (2.30 48.87, 2.31 48.86)",
        [[2.30, 48.87], [2.31, 48.86]],
        np.array([[2.30, 48.87], [2.31, 48.86]]),
    ],
)
def test_arc_shapes_reads_every_geometry_form(geometry: object) -> None:
    arcs = pd.DataFrame({"arc_id": [7], "geometry": [geometry], "lat": [0.0], "lon": [0.0]})
    shapes = core.arc_shapes(arcs, [7])
    assert shapes[["lon", "lat"]].to_numpy().tolist() == [[2.30, 48.87], [2.31, 48.86]]
    assert shapes["order"].tolist() == [0, 1]
    assert core.arc_points(shapes)[["lon", "lat"]].to_numpy().round(3).tolist() == [[2.305, 48.865]]


def test_arc_shapes_falls_back_to_the_point_and_skips_unknown_arcs() -> None:
    arcs = pd.DataFrame(
        {
            "arc_id": [1, 2, 3],
            "geometry": [None, "", "bad"],
            "lat": [48.8, np.nan, 48.9],
            "lon": [2.3, 2.4, 2.5],
        }
    )
    shapes = core.arc_shapes(arcs, [1, 2, 3, 99])
    assert shapes["arc_id"].tolist() == [1, 3]
    assert shapes.loc[shapes["arc_id"] == 1, ["lon", "lat"]].to_numpy().tolist() == [[2.3, 48.8]]


def test_sync_arc_applies_a_new_map_click_once() -> None:
    valid = {191: "a", 4264: "b", 5672: "c"}
    session: dict[str, object] = {}
    assert core.sync_arc(session, valid) == 191  # default: first arc
    session["map"] = {"selection": {"pick": [{"arc_id": 5672}]}}
    assert core.sync_arc(session, valid) == 5672  # click wins
    session["arc_id"] = 4264  # then the user changes the selectbox; the old click must not win
    assert core.sync_arc(session, valid) == 4264
    session["map"] = {"selection": {"pick": [{"arc_id": 12345}]}}  # not an arc with data
    assert core.sync_arc(session, valid) == 4264
    session["map"] = {"selection": {"pick": []}}
    assert core.sync_arc(session, valid) == 4264


def _synthetic_predictions() -> pd.DataFrame:
    """Synthetic backtest output: two models, one week, known absolute errors."""
    times = pd.date_range("2023-06-05 00:00", periods=168, freq="h", tz="Europe/Paris")
    times = times.tz_convert("UTC")
    frames = []
    for model, err in (("good", 10.0), ("bad", 30.0)):
        frames.append(
            pd.DataFrame(
                {
                    "arc_id": 1,
                    "time": times,
                    "model": model,
                    "cutoff": times[0],
                    "y_true": 100.0,
                    "y_pred": 100.0 + err,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out.loc[0, "y_pred"] = np.nan  # an unscored hour is left out, not counted as an error
    return out


def test_mae_tables_on_synthetic_predictions() -> None:
    preds = _synthetic_predictions()
    by_model = core.mae_by_model(preds)
    assert by_model.index.tolist() == ["good", "bad"]
    assert by_model["MAE"].tolist() == [10.0, 30.0]
    assert by_model["hours"].tolist() == [167, 168]
    by_hour = core.mae_by(preds, "hour")
    assert by_hour.index.tolist() == list(range(24))
    assert (by_hour["bad"] == 30.0).all()
    by_day = core.mae_by(preds, "weekday")
    assert by_day.index.tolist() == list(core.WEEKDAYS)  # 2023-06-05 is a Monday
    assert (by_day["good"] == 10.0).all()
    assert core.mae_by_model(preds, arc_id=2).empty


# -- the app under Streamlit's AppTest ------------------------------------------------------------


@pytest.fixture(scope="module")
def app_env() -> object:
    mp = pytest.MonkeyPatch()
    mp.delenv("INFOTRAFIC_DATA_DIR", raising=False)
    mp.setenv("INFOTRAFIC_DASHBOARD_WEEKS", "2")
    mp.setenv("INFOTRAFIC_DASHBOARD_PARAMS", FAST_GBM)
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def app(app_env: object) -> object:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=600)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _table(at: object, first_column: str) -> pd.DataFrame:
    for df in at.dataframe:  # type: ignore[attr-defined]
        value = df.value
        if first_column in (value.index.name, *value.columns):
            return value
    raise AssertionError(f"no table with {first_column!r}")


@pytest.mark.slow
def test_app_shows_the_sample_arcs_forecast_and_backtest(app: object) -> None:
    at = app
    arc = at.selectbox(key="arc_id")  # type: ignore[attr-defined]
    assert arc.value == 191
    assert [o.split(" ")[0] for o in arc.options] == [str(a) for a in SAMPLE_ARCS]
    assert any("Champs" in o for o in arc.options)
    assert at.selectbox(key="model").value == "gbm"  # type: ignore[attr-defined]

    metrics = {m.label: m.value for m in at.metric}  # type: ignore[attr-defined]
    nxt = next(v for k, v in metrics.items() if k.startswith("Next-hour flow, gbm"))
    assert re.fullmatch(r"\d+ veh/h", nxt), nxt
    assert 0 <= int(nxt.split()[0]) < 5000
    assert re.fullmatch(r"\d+ veh/h", metrics["Last observed flow"])

    models = set(core.DEFAULT_MODELS)
    mae_tables = [d.value for d in at.dataframe if d.value.index.name == "model"]  # type: ignore[attr-defined]
    assert len(mae_tables) == 2  # this arc, then all arcs
    for table in mae_tables:
        assert set(table.index) == models
        assert table["MAE"].between(0, 1000).all()
        assert (table["hours"] > 0).all()
    overall = mae_tables[1]
    # A model worth having beats persistence on the sample (real data, 2 weeks, 3 arcs).
    assert overall.loc["gbm", "MAE"] < overall.loc["naive", "MAE"]
    by_hour = _table(at, "hour")
    assert by_hour.index.tolist() == list(range(24))
    assert set(by_hour.columns) == models
    by_day = _table(at, "weekday")
    assert by_day.index.tolist() == list(core.WEEKDAYS)
    assert not by_day.isna().all(axis=None)

    text = " ".join(m.value for m in at.markdown) + " ".join(h.value for h in at.subheader)  # type: ignore[attr-defined]
    assert "MAE by weekday" in text and "Recent flow" in text


@pytest.mark.slow
def test_app_switches_arc_and_model(app: object) -> None:
    at = app
    at.selectbox(key="arc_id").set_value(4264)  # type: ignore[attr-defined]
    at.selectbox(key="model").set_value("seasonal_naive")  # type: ignore[attr-defined]
    at.run()
    assert not at.exception  # type: ignore[attr-defined]
    assert any("4264" in h.value and "Champs" in h.value for h in at.subheader)  # type: ignore[attr-defined]
    metrics = {m.label: m.value for m in at.metric}  # type: ignore[attr-defined]
    nxt = next(v for k, v in metrics.items() if k.startswith("Next-hour flow, seasonal_naive"))
    assert re.fullmatch(r"\d+ veh/h", nxt), nxt


def test_model_params_merge_defaults_and_json() -> None:
    assert core.model_params() == {"gbm": {"n_jobs": 1}}
    merged = core.model_params('{"gbm": {"max_iter": 5}, "naive": {"horizon": 1}}')
    assert merged == {"gbm": {"n_jobs": 1, "max_iter": 5}, "naive": {"horizon": 1}}
    with pytest.raises(ValueError, match="JSON object"):
        core.model_params('["gbm"]')


def test_paris_outline_is_a_closed_ring_around_the_sample_arcs() -> None:
    ring = core.paris_outline()
    assert ring.iloc[0][["lon", "lat"]].tolist() == ring.iloc[-1][["lon", "lat"]].tolist()
    shapes = core.arc_shapes(core.load_data(None).arcs, SAMPLE_ARCS)
    assert set(shapes["arc_id"]) == set(SAMPLE_ARCS)
    assert shapes["lon"].between(ring["lon"].min(), ring["lon"].max()).all()
    assert shapes["lat"].between(ring["lat"].min(), ring["lat"].max()).all()


@pytest.mark.slow
def test_app_reads_a_store_and_the_api_model_store(tmp_path: Path) -> None:
    """With INFOTRAFIC_DATA_DIR: data from the parquet store, next hour from a trained model."""
    sys.path.insert(0, str(REPO / "examples"))
    from common.modelstore import ModelRecord, ModelStore
    from streamlit.testing.v1 import AppTest

    from infotrafic.datasets import load_sample, load_sample_arcs
    from infotrafic.etl import ParquetStore
    from infotrafic.forecasters import make_forecaster

    sample = load_sample()
    panel = sample[(sample["arc_id"] == 4264) & (sample["time"] >= "2023-09-01")]
    store = ParquetStore(tmp_path / "processed")
    store.ingest(panel)
    store.ingest_arcs(load_sample_arcs())
    model = make_forecaster("seasonal_naive").fit(panel)
    models = ModelStore(tmp_path / "models")
    record = ModelRecord(
        version=models.new_version(), name="seasonal_naive", params={}, source="store",
        arcs=[4264], data_start=None, data_end=None, n_rows=len(panel), created_at="now",
    )  # fmt: skip
    models.save(model, record)

    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("INFOTRAFIC_DATA_DIR", str(tmp_path))
        mp.setenv("INFOTRAFIC_DASHBOARD_MODELS", "naive,seasonal_naive")
        mp.setenv("INFOTRAFIC_DASHBOARD_WEEKS", "1")
        at = AppTest.from_file(str(APP), default_timeout=600)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.selectbox(key="arc_id").options[0].startswith("4264")
        assert len(at.selectbox(key="arc_id").options) == 1
        assert at.selectbox(key="model").value == "naive"
        at.selectbox(key="model").set_value("seasonal_naive").run()
        captions = " ".join(c.value for c in at.caption)
        assert f"trained model {record.version}" in captions
        assert "store" in captions
        metrics = {m.label: m.value for m in at.metric}
        nxt = next(v for k, v in metrics.items() if k.startswith("Next-hour flow, seasonal_naive"))
        assert re.fullmatch(r"\d+ veh/h", nxt), nxt
    finally:
        mp.undo()
