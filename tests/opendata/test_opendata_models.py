"""Typed models on the real API answers of tests/data/paris/api (both vintages)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from infotrafic.opendata import (
    Attachment,
    DatasetInfo,
    TrafficRecord,
    V1SearchResponse,
    records_to_arcs,
    records_to_panel,
)
from infotrafic.opendata._models import Geometry, GeoPoint, RecordsPage


def _load(path: Path) -> object:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def v21(shared_data: Path) -> list[dict[str, object]]:
    data = _load(next((shared_data / "api").glob("v2.1_records_results_*.json.gz")))
    assert isinstance(data, list)
    return data


@pytest.fixture(scope="module")
def v1(shared_data: Path) -> dict[str, object]:
    data = _load(next((shared_data / "api").glob("v1_search_*.json.gz")))
    assert isinstance(data, dict)
    return data


def test_v21_records_parse_with_string_ids_and_nulls(v21: list[dict[str, object]]) -> None:
    page = RecordsPage.model_validate({"total_count": len(v21), "results": v21})
    assert len(page.results) == 100
    raw_null_q = sum(r["q"] is None for r in v21)
    assert raw_null_q > 0
    assert sum(r.q is None for r in page.results) == raw_null_q
    first, raw = page.results[0], v21[0]
    assert isinstance(raw["iu_ac"], str) and first.iu_ac == int(str(raw["iu_ac"]))
    assert first.iu_nd_amont == int(str(raw["iu_nd_amont"]))
    assert first.geo_point_2d is not None and isinstance(raw["geo_point_2d"], dict)
    assert first.geo_point_2d.lon == raw["geo_point_2d"]["lon"]
    assert first.geo_shape is not None and first.geo_shape.type == "LineString"  # Feature unwrapped


def test_v21_panel_times_are_utc_end_of_hour(v21: list[dict[str, object]]) -> None:
    panel = records_to_panel(TrafficRecord.model_validate(r) for r in v21)
    # the call asked timezone=Europe/Paris: 2026-06-21T00:00:00+02:00 is 22:00 UTC the day before
    assert v21[0]["t_1h"] == "2026-06-21T00:00:00+02:00"
    assert panel["time"].unique().tolist() == [pd.Timestamp("2026-06-20 22:00", tz="UTC")]
    assert len(panel) == 100 and panel["arc_id"].is_unique
    assert panel["flow"].isna().sum() == sum(r["q"] is None for r in v21)
    labels = {r["etat_trafic"] for r in v21}
    assert "Fluide" in labels and set(panel["traffic_state"].dropna().unique()) <= {0, 1, 2, 3, 4}


def test_v1_envelope_with_omitted_keys_and_list_points(v1: dict[str, object]) -> None:
    response = V1SearchResponse.model_validate(v1)
    records = response.records
    assert response.nhits > 27_000_000 and len(records) == 3000
    raw = v1["records"]
    assert isinstance(raw, list)
    omitted = sum("q" not in r["fields"] for r in raw)
    assert omitted > 1000
    assert sum(r.fields.q is None for r in records) == omitted
    with_point = [
        (r, x) for r, x in zip(records, raw, strict=True) if "geo_point_2d" in x["fields"]
    ]
    rec, x = with_point[0]
    assert rec.fields.geo_point_2d == GeoPoint(
        lat=x["fields"]["geo_point_2d"][0], lon=x["fields"]["geo_point_2d"][1]
    )
    assert rec.fields.geo_shape is not None and rec.fields.geo_shape.type == "LineString"
    assert rec.geometry is not None and rec.geometry.type == "Point"
    assert sum(r.fields.geo_point_2d is None for r in records) == 22
    panel = records_to_panel(response.results)
    assert panel["arc_id"].dtype == "int64" and len(panel) == 3000
    assert set(panel["time"].dt.minute) == {0}


def test_three_point_spellings_agree() -> None:
    a = GeoPoint.model_validate({"lon": 2.30172, "lat": 48.87153})
    b = GeoPoint.model_validate([48.87153, 2.30172])
    c = GeoPoint.model_validate("48.87153, 2.30172")
    d = GeoPoint.model_validate("48.87153,2.30172")
    assert a == b == c == d
    with pytest.raises(ValidationError):
        GeoPoint.model_validate("48.8")


def test_feature_bare_and_text_geometries_agree() -> None:
    bare = {"type": "LineString", "coordinates": [[2.30, 48.87], [2.31, 48.86]]}
    feature = {"type": "Feature", "geometry": bare, "properties": {}}
    assert (
        Geometry.from_any(bare) == Geometry.from_any(feature) == Geometry.from_any(json.dumps(bare))
    )
    assert Geometry.from_any(None) is None and Geometry.from_any("") is None


def test_record_rejects_naive_times_and_bad_ids() -> None:
    with pytest.raises(ValidationError):
        TrafficRecord.model_validate({"iu_ac": "4264", "t_1h": "2023-02-01T23:00:00"})
    with pytest.raises(ValidationError):
        TrafficRecord.model_validate({"iu_ac": "abc", "t_1h": "2023-02-01T23:00:00Z"})


def test_arcs_table_from_records(v21: list[dict[str, object]]) -> None:
    arcs = records_to_arcs(TrafficRecord.model_validate(r) for r in v21)
    assert len(arcs) == 100 and arcs["arc_id"].is_monotonic_increasing
    row = arcs.set_index("arc_id").loc[int(str(v21[0]["iu_ac"]))]
    assert row["name"] == v21[0]["libelle"]
    assert json.loads(row["geometry"])["type"] == "LineString"


def test_metadata_and_attachment_models() -> None:
    info = DatasetInfo.model_validate(
        {
            "dataset_id": "x",
            "has_records": True,
            "fields": [{"name": "q", "label": "Débit horaire", "type": "double"}],
            "metas": {
                "default": {
                    "title": "T",
                    "records_count": 12,
                    "modified": "2024-01-01T10:00:00+01:00",
                }
            },
        }
    )
    assert (info.title, info.records_count) == ("T", 12)
    assert info.modified == pd.Timestamp("2024-01-01 09:00", tz="UTC")
    assert Attachment(title="opendata_txt_2022.zip").year == 2022
    assert Attachment(title="notice.pdf").year is None
