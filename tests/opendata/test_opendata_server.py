"""The loopback server speaks the portal's shapes, limits, errors and faults."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest

from infotrafic.testing import Fault, OpenDataServer

pytestmark = pytest.mark.server

DS = "/api/explore/v2.1/catalog/datasets/comptages-routiers-permanents"
ONE_MONTH = "iu_ac = \"4264\" AND t_1h < date'2022-12-01'"


def _get(server: OpenDataServer, path: str, **params: object) -> httpx.Response:
    return httpx.get(server.url + path, params=params, timeout=10)  # type: ignore[arg-type]


def test_records_have_the_real_v21_shape(server: OpenDataServer) -> None:
    body = _get(
        server,
        DS + "/records",
        where="iu_ac = \"4264\" AND t_1h >= date'2023-02-01T21:00:00Z'",
        order_by="t_1h",
        limit=3,
        timezone="Europe/Paris",
    ).json()
    first = body["results"][0]
    assert body["total_count"] == len(server.rows_for([4264], "2023-02-01T21:00Z"))
    assert first["iu_ac"] == "4264" and first["iu_nd_amont"] == "2294"
    assert first["t_1h"] == "2023-02-01T22:00:00+01:00"
    assert first["etat_trafic"] in {"Fluide", "Pré-saturé", "Saturé", "Bloqué", "Inconnu"}
    assert set(first["geo_point_2d"]) == {"lon", "lat"}
    assert first["geo_shape"]["type"] == "Feature"
    assert first["geo_shape"]["geometry"]["type"] == "LineString"
    assert list(first)[:3] == ["iu_ac", "libelle", "t_1h"]
    utc = _get(server, DS + "/records", where='iu_ac = "4264"', order_by="t_1h", limit=1).json()
    assert utc["results"][0]["t_1h"].endswith("+00:00")


def test_missing_flow_is_null(server: OpenDataServer) -> None:
    missing = server.panel[server.panel["flow"].isna()].iloc[0]
    stamp = missing["time"].strftime("%Y-%m-%dT%H:%M:%SZ")
    body = _get(
        server,
        DS + "/records",
        where=f"iu_ac = \"{missing['arc_id']}\" AND t_1h = date'{stamp}'",
    ).json()
    assert body["total_count"] == 1 and body["results"][0]["q"] is None


def test_limits_and_real_400_bodies(server: OpenDataServer) -> None:
    too_big = _get(server, DS + "/records", limit=101)
    assert (
        too_big.status_code == 400 and too_big.json()["error_code"] == "InvalidRESTParameterError"
    )
    window = _get(server, DS + "/records", limit=100, offset=9900)
    assert window.status_code == 400 and "/exports" in window.json()["message"]
    assert _get(server, DS + "/records", limit=100, offset=9899).status_code == 200
    bad = _get(server, DS + "/records", where="t_1h >= date'2023-01-01' AND (")
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "ODSQLError"
    assert bad.json()["message"].startswith("ODSQL query is malformed")
    unknown = _get(server, DS + "/records", where='foo = "1"').json()
    assert unknown["error_code"] == "ODSQLError" and "foo" in unknown["message"]
    assert _get(server, DS + "/records", select="nope").status_code == 400
    assert _get(server, DS + "/records", timezone="Mars/Olympus").status_code == 400
    assert _get(server, "/api/explore/v2.1/catalog/datasets/nope").status_code == 404


def test_select_order_refine_and_in(server: OpenDataServer) -> None:
    body = _get(
        server,
        DS + "/records",
        select="iu_ac, t_1h, q",
        where='iu_ac IN ("4264", "191")',
        refine="t_1h:2023/03/05",
        order_by="t_1h desc, iu_ac",
        limit=100,
        timezone="Europe/Paris",
    ).json()
    assert all(set(r) == {"iu_ac", "t_1h", "q"} for r in body["results"])
    assert {r["iu_ac"] for r in body["results"]} == {"4264", "191"}
    assert all(r["t_1h"].startswith("2023-03-05") for r in body["results"])
    times = [r["t_1h"] for r in body["results"]]
    assert times == sorted(times, reverse=True)
    excluded = _get(server, DS + "/records", exclude="iu_ac:4264", limit=0).json()
    assert excluded["total_count"] == int((server.panel["arc_id"] != 4264).sum())


def test_exports_in_every_format(server: OpenDataServer) -> None:
    where = "iu_ac = \"5672\" AND t_1h >= date'2023-01-01' AND t_1h < date'2023-01-08'"
    expected = server.rows_for([5672], "2023-01-01T00:00Z", "2023-01-08T00:00Z")
    csv = _get(server, DS + "/exports/csv", where=where)
    assert csv.headers["transfer-encoding"] == "chunked"
    assert csv.content.startswith(b"\xef\xbb\xbfiu_ac;libelle;t_1h;q;k;etat_trafic;")
    frame = pd.read_csv(io.BytesIO(csv.content), sep=";", encoding="utf-8-sig")
    assert len(frame) == len(expected) == 168
    assert frame["geo_point_2d"].iloc[0].count(",") == 1  # "lat, lon"
    assert json.loads(frame["geo_shape"].iloc[0])["type"] == "LineString"
    labels = _get(server, DS + "/exports/csv", where=where, use_labels="true", with_bom="false")
    assert labels.text.startswith("Identifiant arc;Libelle;Date et heure de comptage;")
    as_json = _get(server, DS + "/exports/json", where=where).json()
    assert len(as_json) == 168 and as_json[0]["iu_ac"] == "5672"
    lines = _get(server, DS + "/exports/jsonl", where=where).text.splitlines()
    assert len(lines) == 168 and json.loads(lines[0])["iu_ac"] == "5672"
    table = pq.read_table(io.BytesIO(_get(server, DS + "/exports/parquet", where=where).content))
    assert table.num_rows == 168
    assert _get(server, DS + "/exports/xlsx").status_code == 400


def test_metadata(server: OpenDataServer) -> None:
    meta = _get(server, DS).json()
    assert meta["dataset_id"] == "comptages-routiers-permanents"
    assert meta["metas"]["default"]["records_count"] == len(server.panel)
    assert {f["name"] for f in meta["fields"]} >= {"iu_ac", "t_1h", "q", "k"}


def test_attachments_with_range(tmp_path: Path) -> None:
    archive = tmp_path / "opendata_txt_2022.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("trafic_capteurs_2022_W01.txt", "x" * 5000)
    with OpenDataServer(archives=[archive]) as server:
        hist = "/api/explore/v2.1/catalog/datasets/comptages-routiers-permanents-historique"
        listing = _get(server, hist + "/attachments").json()["attachments"]
        assert [a["metas"]["title"] for a in listing] == ["opendata_txt_2022.zip"]
        url = listing[0]["href"]
        whole = httpx.get(url).content
        assert whole == archive.read_bytes()
        part = httpx.get(url, headers={"Range": "bytes=100-"})
        assert part.status_code == 206 and part.content == whole[100:]
        assert part.headers["content-range"] == f"bytes 100-{len(whole) - 1}/{len(whole)}"
        assert httpx.get(url, headers={"Range": f"bytes={len(whole)}-"}).status_code == 416


def test_quota_fault_has_the_real_body_and_headers(server: OpenDataServer) -> None:
    server.faults.push(Fault.quota(times=2, reset_in=30, retry_after=30))
    for _ in range(2):
        answer = _get(server, DS + "/records")
        assert answer.status_code == 429
    body = answer.json()
    assert set(body) == {"errorcode", "reset_time", "limit_time_unit", "call_limit", "error"}
    assert body["errorcode"] == 10002 and body["call_limit"] == 10000
    assert body["error"].startswith("Too many requests on the domain.")
    assert answer.headers["Retry-After"] == "30"
    assert answer.headers["X-RateLimit-Remaining"] == "0"
    assert _get(server, DS + "/records").status_code == 200
    assert [r.fault for r in server.requests] == ["quota", "quota", None]


def test_error_slow_and_drop_faults(server: OpenDataServer) -> None:
    server.faults.push(Fault.server_error(503, path="/records"))
    assert _get(server, DS).status_code == 200  # the fault only matches /records
    assert _get(server, DS + "/records").status_code == 503
    server.faults.push(Fault.slow(0.3))
    began = time.monotonic()
    assert _get(server, DS + "/records").status_code == 200
    assert time.monotonic() - began >= 0.3
    server.faults.push(Fault.drop())
    with pytest.raises(httpx.RemoteProtocolError):
        _get(server, DS + "/records")
    assert _get(server, DS + "/records").status_code == 200


@pytest.mark.parametrize("mode", ["length", "chunked"])
def test_truncated_bodies_are_detected_by_httpx(server: OpenDataServer, mode: str) -> None:
    server.faults.push(Fault.truncate(0.4, mode=mode))  # type: ignore[arg-type]
    with pytest.raises(httpx.RemoteProtocolError):
        _get(server, DS + "/exports/csv", where='iu_ac = "4264"')


def test_clean_truncation_and_corruption_look_fine_on_the_wire(server: OpenDataServer) -> None:
    full = _get(server, DS + "/exports/csv", where=ONE_MONTH).content
    server.faults.push(Fault.truncate(0.5, mode="clean"))
    short = _get(server, DS + "/exports/csv", where=ONE_MONTH).content
    assert full.startswith(short) and short.endswith(b"\r\n") and len(short) < len(full)
    server.faults.push(Fault.corrupt())
    broken = _get(server, DS + "/exports/json", where=ONE_MONTH)
    with pytest.raises(ValueError):
        broken.json()


def test_close_delimited_cut_has_no_length_and_ends_at_a_line(server: OpenDataServer) -> None:
    full = _get(server, DS + "/exports/csv", where=ONE_MONTH).content
    server.faults.push(Fault.truncate(0.5, mode="close"))
    cut = _get(server, DS + "/exports/csv", where=ONE_MONTH)  # httpx sees nothing wrong
    assert "content-length" not in cut.headers and "transfer-encoding" not in cut.headers
    assert cut.headers["connection"] == "close"
    assert full.startswith(cut.content) and cut.content.endswith(b"\r\n")
    assert len(full) // 3 < len(cut.content) < len(full)


def test_unavailable_endpoint_answers_404_until_used_up(server: OpenDataServer) -> None:
    server.faults.push(Fault.unavailable(times=2))
    for _ in range(2):
        answer = _get(server, DS + "/records", limit=1)
        assert answer.status_code == 404 and answer.json()["error_code"] == "NotFound"
        assert _get(server, DS + "/exports/csv", where=ONE_MONTH).status_code == 200
    assert _get(server, DS + "/records", limit=1).status_code == 200


def test_request_log_records_headers(server: OpenDataServer) -> None:
    httpx.get(server.url + DS, headers={"Authorization": "Apikey K"})
    entry = server.requests[-1]
    assert entry.path == DS and entry.status == 200 and entry.headers["Authorization"] == "Apikey K"


def test_pytest_fixture_is_usable(opendata_server: OpenDataServer) -> None:
    body = _get(opendata_server, DS + "/records", limit=0).json()
    assert body["total_count"] == 2 * 744 and opendata_server.url.startswith("http://127.0.0.1:")
