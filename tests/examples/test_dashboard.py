"""The Streamlit dashboard (examples/dashboard): its data helpers, and the app under AppTest."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "examples" / "dashboard" / "app.py"
for _p in (APP.parent, REPO / "examples"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import dashboard_core as core  # noqa: E402

from infotrafic import TRAFFIC_STATES  # noqa: E402

pytestmark = pytest.mark.examples

SAMPLE_ARCS = [191, 4264, 5672]
#: A lighter gbm than the default (400 iterations) to keep the tests short.
FAST_GBM = '{"gbm": {"max_iter": 80, "n_jobs": 1}}'
#: States a forecast can take, and the grey of arcs without one.
STATES = {TRAFFIC_STATES[c] for c in (1, 2, 3, 4)}


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


def _charts(at: Any) -> list[tuple[dict[str, Any], dict[str, pd.DataFrame]]]:
    """Every Vega-Lite chart of the page: its spec and its datasets (decoded from Arrow)."""
    out = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        data = {
            d.name: pa.ipc.open_stream(d.data.data).read_all().to_pandas()
            for d in chart.proto.datasets
        }
        out.append((spec, data))
    return out


def _layer_data(spec: dict[str, Any], data: dict[str, pd.DataFrame]) -> list[pd.DataFrame]:
    return [data[layer["data"]["name"]] for layer in spec["layer"] if "data" in layer]


def _selected(spec: dict[str, Any], data: dict[str, pd.DataFrame]) -> list[int]:
    """Arcs ringed in black on the map (the selection)."""
    return [
        int(a)
        for layer in spec["layer"]
        if isinstance(layer.get("mark"), dict) and layer["mark"].get("color") == "black"
        for a in data[layer["data"]["name"]]["arc_id"]
    ]


def _map_and_forecast(at: Any) -> tuple[Any, Any]:
    charts = _charts(at)
    maps = [c for c in charts if "projection" in json.dumps(c[0])]
    bands = [c for c in charts if '"y2"' in json.dumps(c[0])]
    assert len(maps) == 1 and len(bands) == 1, [list(c[0]) for c in charts]
    return maps[0], bands[0]


@pytest.mark.slow
def test_app_shows_the_network_forecasts_and_backtest(app: Any) -> None:
    at = app
    arc = at.selectbox(key="arc_id")
    assert arc.value == 191
    assert [o.split(" ")[0] for o in arc.options] == [str(a) for a in SAMPLE_ARCS]
    assert any("Champs" in o for o in arc.options)
    horizon = at.select_slider(key="horizon")
    assert horizon.value == 1 and [int(o) for o in horizon.options] == list(range(1, 25))

    metrics = {m.label: m.value for m in at.metric}
    flow = next(v for k, v in metrics.items() if k.startswith("Flow in 1 h"))
    assert re.fullmatch(r"\d+ veh/h", flow), flow
    assert 0 <= int(flow.split()[0]) < 5000
    state = metrics["Traffic state in 1 h"]
    assert re.fullmatch(r"(Fluide|Pré-saturé|Saturé|Bloqué) \(\d+%\)", state), state
    assert re.fullmatch(r"\d+ veh/h", metrics["Last observed flow"])
    captions = " ".join(c.value for c in at.caption)
    assert "80 %:" in captions and "95 %:" in captions
    assert "seasonal_naive trained here" in captions  # no champion anywhere: trained here

    # The map: the whole network (~3,300 arcs) from its geometry, data arcs coloured by state.
    (spec, data), (bands_spec, bands_data) = _map_and_forecast(at)
    layers = _layer_data(spec, data)
    arcs = set().union(*(set(f["arc_id"]) for f in layers))
    assert 3_000 < len(arcs) < 4_000
    vertices = pd.concat([f for f in layers if "order" in f])
    assert vertices.groupby("arc_id").size().min() >= 2  # lines, not points
    assert vertices["lon"].between(2.2, 2.5).all() and vertices["lat"].between(48.8, 48.91).all()
    coloured = [f for f in layers if "state" in f]
    assert {a for f in coloured for a in f["arc_id"]} == set(SAMPLE_ARCS)
    assert set().union(*(set(f["state"]) for f in coloured)) <= STATES | {core.NO_FORECAST}
    scale = next(
        layer["encoding"]["color"]["scale"]
        for layer in spec["layer"]
        if "color" in layer.get("encoding", {})
    )
    assert scale["domain"][:4] == [TRAFFIC_STATES[c] for c in (1, 2, 3, 4)]
    assert _selected(spec, data) == [191]  # the ring around the selection

    # The forecast chart: observed flow, the forecast and its 80 and 95 % bands.
    encodings = [layer.get("encoding", {}) for layer in bands_spec["layer"]]
    assert {(e["y"]["field"], e["y2"]["field"]) for e in encodings if "y2" in e} == {
        ("lo_80", "hi_80"),
        ("lo_95", "hi_95"),
    }
    band = next(f for f in bands_data.values() if "lo_80" in f)
    assert len(band) == 24 and (band["lo_95"] <= band["flow"]).all()

    models = set(core.DEFAULT_MODELS)
    mae_tables = [d.value for d in at.dataframe if d.value.index.name == "model"]
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

    text = " ".join(m.value for m in at.markdown) + " ".join(h.value for h in at.subheader)
    assert "MAE by weekday" in text and "forecast ahead" in text


@pytest.mark.slow
def test_app_switches_horizon_and_arc(app: Any) -> None:
    at = app
    at.select_slider(key="horizon").set_value(6)
    at.selectbox(key="arc_id").set_value(4264)
    at.run()
    assert not at.exception
    assert any("4264" in h.value and "Champs" in h.value for h in at.subheader)
    assert any(h.value == "The network, forecast state in 6 h" for h in at.subheader)
    metrics = {m.label: m.value for m in at.metric}
    assert re.fullmatch(
        r"\d+ veh/h", next(v for k, v in metrics.items() if k.startswith("Flow in 6 h"))
    )
    assert "Traffic state in 6 h" in metrics
    (spec, data), (bands_spec, bands_data) = _map_and_forecast(at)
    assert _selected(spec, data) == [4264]
    rule = [f for f in bands_data.values() if len(f) == 1 and "horizon" in f]
    assert rule and int(rule[0]["horizon"].iloc[0]) == 6  # the red mark of the chosen horizon


def test_model_params_merge_defaults_and_json() -> None:
    assert core.model_params() == {"gbm": {"n_jobs": 1}}
    merged = core.model_params('{"gbm": {"max_iter": 5}, "naive": {"horizon": 1}}')
    assert merged == {"gbm": {"n_jobs": 1, "max_iter": 5}, "naive": {"horizon": 1}}
    with pytest.raises(ValueError, match="JSON object"):
        core.model_params('["gbm"]')


def test_network_is_the_whole_referentiel_plus_the_data_arcs() -> None:
    sample = core.load_data(None).arcs
    network = core.network_arcs(sample)
    assert 3_000 < network["arc_id"].nunique() == len(network) < 4_000
    assert set(SAMPLE_ARCS) <= set(network["arc_id"])
    extra = sample.iloc[[0]].assign(arc_id=999_001)  # an arc of the data unknown to the referentiel
    assert 999_001 in set(core.network_arcs(pd.concat([sample, extra]))["arc_id"])


def test_map_layers_colour_the_arcs_with_data_by_state() -> None:
    network = core.network_arcs(core.load_data(None).arcs)
    labels = {191: "191", 4264: "4264", 5672: "5672"}
    states = pd.DataFrame(
        {"arc_id": [191, 4264, 5672], "state": ["Fluide", "Saturé", "no forecast"],
         "state_probability": [0.9, 0.6, np.nan], "flow": [500.0, 1500.0, np.nan]}
    )  # fmt: skip
    background, coloured, dots = core.map_layers(network, states, labels)
    assert background["arc_id"].nunique() + coloured["arc_id"].nunique() == len(network)
    assert set(coloured["arc_id"]) == set(labels) and not set(background["arc_id"]) & set(labels)
    assert dict(zip(dots["arc_id"], dots["state"], strict=True)) == {
        191: "Fluide", 4264: "Saturé", 5672: core.NO_FORECAST
    }  # fmt: skip
    names, colours = core.state_domain()
    assert set(names) == STATES | {core.NO_FORECAST} and len(set(colours)) == len(names)
    assert core.STATE_COLOURS[TRAFFIC_STATES[1]] != core.STATE_COLOURS[TRAFFIC_STATES[4]]


def test_forecast_helpers_on_a_small_trained_model() -> None:
    from infotrafic.forecasting import forecast_columns

    panel = core.load_data(None).panel
    model = core.train_model(panel, "seasonal_naive", {})
    frame, notes = core.forecast_all(model, panel)
    assert list(frame.columns) == forecast_columns(model.levels)
    assert len(frame) == len(SAMPLE_ARCS) * 24 and isinstance(notes, list)
    states = core.state_of_arcs(frame, 6)
    assert sorted(states["arc_id"]) == SAMPLE_ARCS and set(states["state"]) <= STATES
    ahead = core.arc_forecast(frame, 4264)
    assert ahead["horizon"].tolist() == list(range(1, 25))
    assert (ahead["lo_95"] <= ahead["lo_80"]).all() and (ahead["hi_80"] <= ahead["hi_95"]).all()
    text = core.interval_text(ahead.iloc[0].to_dict(), [80.0, 95.0])
    assert re.fullmatch(r"80 %: [\d,]+–[\d,]+ · 95 %: [\d,]+–[\d,]+ veh/h", text), text


@pytest.mark.slow
def test_app_reads_a_store_and_serves_the_model_store_champion(tmp_path: Path) -> None:
    """With INFOTRAFIC_DATA_DIR: data from the parquet store, forecasts by the store's champion."""
    from common.modelstore import ModelStore
    from streamlit.testing.v1 import AppTest

    from infotrafic.datasets import load_sample, load_sample_arcs
    from infotrafic.etl import ParquetStore
    from infotrafic.forecasting import train

    sample = load_sample()
    panel = sample[(sample["arc_id"] == 4264) & (sample["time"] >= "2023-09-01")]
    store = ParquetStore(tmp_path / "processed")
    store.ingest(panel)
    store.ingest_arcs(load_sample_arcs())
    model = train(panel, "naive", horizons=[1, 2, 3])
    models = ModelStore(tmp_path / "models")
    record = models.save(model, source="store")
    assert models.crown(record, model).moved  # the first model is the champion

    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("INFOTRAFIC_DATA_DIR", str(tmp_path))
        mp.setenv("INFOTRAFIC_MLFLOW_ENABLED", "false")
        mp.setenv("INFOTRAFIC_DASHBOARD_MODELS", "naive,seasonal_naive")
        mp.setenv("INFOTRAFIC_DASHBOARD_WEEKS", "1")
        at = AppTest.from_file(str(APP), default_timeout=600)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.selectbox(key="arc_id").options[0].startswith("4264")
        assert len(at.selectbox(key="arc_id").options) == 1
        assert [int(o) for o in at.select_slider(key="horizon").options] == [1, 2, 3]
        captions = " ".join(c.value for c in at.caption)
        assert f"champion {record.version} of the model store" in captions
        assert "store" in captions
        metrics = {m.label: m.value for m in at.metric}
        flow = next(v for k, v in metrics.items() if k.startswith("Flow in 1 h"))
        assert re.fullmatch(r"\d+ veh/h", flow), flow
    finally:
        mp.undo()
