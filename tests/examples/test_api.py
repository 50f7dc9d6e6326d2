"""The example FastAPI service, tested through a real uvicorn on 127.0.0.1.

One server per module (its data dir in tmp_path); tests run in file order: the first ones see an
empty model store, ``test_training_empty_body`` trains the default model (``seasonal_naive``
here, see ``_api_server.py``: the API makes the same library calls whatever the model), the
champion served by the rest.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from _api_server import REPO, LiveApi, start_api, stop_api

pytestmark = [pytest.mark.examples, pytest.mark.server]

STATES = {"Fluide", "Pré-saturé", "Saturé", "Bloqué"}

sys.path.insert(0, str(REPO / "examples"))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    root = tmp_path_factory.mktemp("api")
    data_dir = root / "data"
    server = start_api(data_dir, root / "uvicorn.log", token=secrets.token_urlsafe(24))
    try:
        yield server
    finally:
        stop_api(server)


@pytest.fixture(scope="module")
def client(api: LiveApi) -> Iterator[httpx.Client]:
    with api.client() as c:
        yield c


@pytest.fixture(scope="module")
def trained(api: LiveApi, client: httpx.Client) -> dict[str, Any]:
    """POST /training {} and wait: the job status of the default training."""
    r = client.post("/training", json={})
    assert r.status_code == 202, r.text
    job = api.wait_job(r.json()["job_id"], timeout=120)
    assert job["status"] == "succeeded", (job, api.log())
    return job


def test_health(client: httpx.Client) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["version"]
    assert body["latest_model"] is None and body["champion"] is None and body["mlflow"] is False
    assert set(body["jobs"]) == {"queued", "running", "succeeded", "failed", "cancelled"}


def test_predict_before_training_is_409_with_a_hint(client: httpx.Client) -> None:
    r = client.get("/predict", params={"arc_id": 4264})
    assert r.status_code == 409
    assert "POST /training" in r.json()["message"]
    r = client.get("/backtest")
    assert r.status_code == 409


def test_openapi_lists_the_endpoints(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in ("/ingest", "/etl", "/training", "/predict", "/jobs/{job_id}", "/backtest"):
        assert path in paths
    assert "post" in paths["/training"] and "get" in paths["/predict"]
    params = {p["name"]: p for p in paths["/predict"]["get"]["parameters"]}
    assert set(params) == {"arc_id", "horizon", "at", "model", "data"}
    assert "array" in json.dumps(params["arc_id"]["schema"])  # repeatable
    assert "Europe/Paris" in params["at"]["description"]
    assert "infotrafic.forecasting.forecast" in paths["/predict"]["get"]["description"]
    assert "infotrafic.forecasting.train" in paths["/training"]["post"]["description"]
    row = schema["components"]["schemas"]["ForecastRow"]["properties"]
    assert {"flow", "lo_80", "hi_80", "lo_95", "hi_95", "state", "state_probability"} <= set(row)
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_training_empty_body(api: LiveApi, client: httpx.Client, trained: dict[str, Any]) -> None:
    result = trained["result"]
    assert trained["kind"] == "training" and trained["progress"] == 1.0
    assert result["name"] == "seasonal_naive" and result["source"] == "sample"
    assert set(result["arcs"]) >= {4264, 5672, 191}
    assert result["horizons"] == list(range(1, 25)) and result["levels"] == [80.0, 95.0]
    assert result["targets"] == ["flow", "occupancy"]  # occupancy: for the traffic state
    metrics = result["metrics"]  # the validation backtest over the last 7 days
    assert metrics["mae"] > 0 and set(metrics["mae_per_horizon"]) == {str(h) for h in range(1, 25)}
    window = pd.Timestamp(metrics["validation_end"]) - pd.Timestamp(metrics["validation_start"])
    assert window == pd.Timedelta(days=7)
    assert result["champion"] is True and "no champion yet" in result["champion_reason"]
    assert "disabled" in result["mlflow_error"]
    models = api.data_dir / "models"
    assert (models / result["version"] / "manifest.json").exists()  # a library model directory
    assert json.loads((models / "champion.json").read_text())["version"] == result["version"]
    health = client.get("/health").json()
    assert health["latest_model"] == health["champion"] == result["version"]


def _rows(body: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(body["forecasts"])


def test_predict_many_arcs_at_every_horizon(
    api: LiveApi, client: httpx.Client, trained: dict[str, Any]
) -> None:
    r = client.get("/predict", params={"arc_id": [4264, 5672]})
    assert r.status_code == 200, r.text
    body = r.json()
    version = trained["result"]["version"]
    assert body["model"] == "seasonal_naive" and body["model_version"] == version
    assert body["champion"] is True and body["registry"] == "store" and body["source"] == "sample"
    assert body["levels"] == [80.0, 95.0] and body["horizons"] == list(range(1, 25))
    issued = pd.Timestamp(body["issued_at"])
    assert issued == pd.Timestamp("2023-12-01T23:00Z") == pd.Timestamp(body["data_time"])
    rows = _rows(body)
    assert len(rows) == 48 and set(rows["arc_id"]) == {4264, 5672}
    for _, g in rows.groupby("arc_id"):
        assert sorted(g["horizon"]) == list(range(1, 25))
    assert (pd.to_datetime(rows["time"]) == issued + pd.to_timedelta(rows["horizon"], "h")).all()
    assert not rows["stale"].any()
    assert (rows["lo_95"] <= rows["lo_80"]).all() and (rows["lo_80"] <= rows["flow"]).all()
    assert (rows["flow"] <= rows["hi_80"]).all() and (rows["hi_80"] <= rows["hi_95"]).all()
    assert set(rows["state"]) <= STATES
    assert rows["state_probability"].between(0, 1).all() and rows["occupancy"].notna().all()

    # The same numbers as the library's forecast with the served model directory.
    from infotrafic.datasets import load_sample
    from infotrafic.forecasting import forecast, load_model

    model = load_model(api.data_dir / "models" / version)
    with warnings.catch_warnings():  # the same notes as the answer's "warnings"
        warnings.simplefilter("ignore", UserWarning)
        expected = forecast(model, load_sample(), arcs=[4264, 5672])
    for col in ("flow", "lo_80", "hi_95", "occupancy", "state_probability"):
        np.testing.assert_allclose(rows[col].to_numpy(float), expected[col].to_numpy(float))
    assert rows["state"].tolist() == expected["state"].tolist()


def test_predict_every_arc_by_default_and_horizon_filter(client: httpx.Client) -> None:
    r = client.get("/predict", params={"horizon": [1, 24]})
    assert r.status_code == 200, r.text
    rows = _rows(r.json())
    assert sorted(rows["arc_id"].unique()) == [191, 4264, 5672]
    assert sorted(rows["horizon"].unique()) == [1, 24] and r.json()["horizons"] == [1, 24]


def test_predict_at_a_past_hour(client: httpx.Client) -> None:
    params: dict[str, Any] = {"arc_id": 5672, "horizon": [1, 2]}
    r = client.get("/predict", params={**params, "at": "2023-06-15T18:00:00Z"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert pd.Timestamp(body["issued_at"]) == pd.Timestamp("2023-06-15T18:00:00Z")
    assert pd.to_datetime(_rows(body)["time"]).tolist() == [
        pd.Timestamp("2023-06-15T19:00Z"),
        pd.Timestamp("2023-06-15T20:00Z"),
    ]
    # Naive times are Europe/Paris wall-clock (CEST = UTC+2 in June).
    naive = client.get("/predict", params={**params, "at": "2023-06-15T20:00:00"}).json()
    assert naive["forecasts"] == body["forecasts"]


@pytest.mark.parametrize(
    ("at", "words"),
    [
        ("2023-03-26T02:00:00", ["does not exist or is ambiguous"]),  # spring-forward gap
        ("2023-10-29T02:00:00", ["does not exist or is ambiguous"]),  # fall-back overlap
        ("9999-12-31T00:00:00", ["after the last hour in the data", "range"]),
        ("1000-01-01T00:00:00Z", ["range"]),
        ("2023-06-15T18:30:00Z", ["on the hour"]),
        ("yesterday noon", ["cannot read"]),
    ],
)
def test_predict_bad_at_is_422_with_a_message(
    client: httpx.Client, at: str, words: list[str]
) -> None:
    r = client.get("/predict", params={"arc_id": 4264, "at": at})
    assert r.status_code == 422, r.text
    message = r.json()["message"]
    assert "at" in message and any(w in message for w in words), message


def test_predict_unknown_arc_warns_and_has_no_row(client: httpx.Client) -> None:
    r = client.get("/predict", params={"arc_id": [4264, 999_999], "horizon": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    assert _rows(body)["arc_id"].tolist() == [4264]
    assert any("999999" in w and "not in the data" in w for w in body["warnings"])
    r = client.get("/predict", params={"arc_id": 999_999})
    assert r.status_code == 200 and r.json()["forecasts"] == []
    assert "999999" in " ".join(r.json()["warnings"])


@pytest.mark.parametrize("arc", ["abc", "", "4264.5", "-3", "0", "1e9999"])
def test_predict_bad_arc_is_422(client: httpx.Client, arc: str, trained: dict[str, Any]) -> None:
    r = client.get("/predict", params={"arc_id": arc})
    assert r.status_code == 422
    assert "arc_id" in r.json()["message"]


def test_predict_bad_horizon_is_422(client: httpx.Client, trained: dict[str, Any]) -> None:
    for value in ("0", "25", "abc"):
        r = client.get("/predict", params={"horizon": value})
        assert r.status_code == 422 and "horizon" in r.json()["message"], r.text


def test_a_model_without_validation_does_not_replace_the_champion(
    api: LiveApi, client: httpx.Client, trained: dict[str, Any]
) -> None:
    body = {"model": "historical_average", "horizons": [1, 2], "backtest_days": 0}
    r = client.post("/training", json=body)
    assert r.status_code == 202, r.text
    job = api.wait_job(r.json()["job_id"], timeout=180)
    assert job["status"] == "succeeded", job
    assert job["result"]["champion"] is False
    assert "no validation metrics" in job["result"]["champion_reason"]
    champion = trained["result"]["version"]
    assert client.get("/health").json()["champion"] == champion
    assert client.get("/predict", params={"arc_id": 4264}).json()["model_version"] == champion
    # Asked by name, the newest model of that forecaster answers (not the champion).
    r = client.get("/predict", params={"model": "historical_average", "arc_id": 4264})
    assert r.status_code == 200, r.text
    assert r.json()["champion"] is False and r.json()["horizons"] == [1, 2]
    r = client.get("/predict", params={"model": "historical_average", "horizon": 6})
    assert r.status_code == 422 and "forecasts [1, 2]" in r.json()["message"]
    assert client.get("/backtest", params={"model": "historical_average"}).status_code == 404
    listed = {m["version"]: m for m in client.get("/models").json()}
    assert listed[champion]["champion"] is True
    assert listed[job["result"]["version"]]["champion"] is False


def test_backtest_report(client: httpx.Client, trained: dict[str, Any]) -> None:
    r = client.get("/backtest")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "seasonal_naive" and body["metrics"]["mae"] > 0
    assert body["model_version"] == trained["result"]["version"]
    assert body["report"]
    assert client.get("/backtest", params={"model": "gbm"}).status_code == 409


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("POST", "/etl", {"files": ["../models/index.json"]}),
        ("POST", "/etl", {"files": ["/etc/passwd"]}),
        ("POST", "/etl", {"files": ["a/../../models/index.json"]}),
        ("POST", "/etl", {"files": ["..\\..\\x"]}),
        ("POST", "/training", {"model": "../../etc/passwd"}),
        ("POST", "/training", {"model": ".."}),
        ("POST", "/training", {"model": "gbm", "data": "/etc"}),
        ("POST", "/training", {"model": "no_such_model"}),
        ("POST", "/training", {"horizons": [0]}),
        ("POST", "/training", {"levels": [100]}),
        ("POST", "/training", {"end": "2023-03-26T02:00:00"}),
        ("POST", "/training", {"start": "2023-06-01", "end": "2023-05-01"}),
        ("GET", "/predict?arc_id=4264&model=../../x", None),
        ("GET", "/backtest?model=..%2F..%2Fx", None),
        ("GET", "/jobs/..%2F..%2Fetc%2Fpasswd", None),
        (
            "POST",
            "/ingest",
            {
                "arcs": [4264],
                "start": "2024-01-01",
                "end": "2024-01-02",
                "base_url": "http://example.org",
            },
        ),
    ],
)
def test_unsafe_or_invalid_input_is_rejected(
    api: LiveApi, client: httpx.Client, method: str, path: str, payload: Any
) -> None:
    before = sorted(p.name for p in api.data_dir.parent.iterdir())
    r = client.request(method, path, json=payload)
    assert r.status_code in (404, 422), r.text
    assert r.json()["message"]
    assert sorted(p.name for p in api.data_dir.parent.iterdir()) == before


def test_etl_then_training_on_the_store(
    api: LiveApi, client: httpx.Client, shared_data: Path
) -> None:
    src = shared_data / "exports" / "arc4264_2022-11_2023-12.csv.gz"
    raw = api.data_dir / "raw"
    shutil.copy(src, raw / src.name)
    assert client.post("/etl", json={"files": ["nope.csv"]}).status_code == 404
    r = client.post("/etl", json={"files": [src.name]})
    assert r.status_code == 202, r.text
    job = api.wait_job(r.json()["job_id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["summary"]["rows_new"] > 8000
    assert any((api.data_dir / "processed").rglob("*.parquet"))
    r = client.post(
        "/training", json={"model": "seasonal_naive", "data": "store", "backtest_days": 2}
    )
    assert r.status_code == 202
    job = api.wait_job(r.json()["job_id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["arcs"] == [4264]
    assert job["result"]["source"] == "store"  # data "auto": the store has data now
    r = client.get("/predict", params={"arc_id": 4264, "model": "seasonal_naive"})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "seasonal_naive" and r.json()["source"] == "store"
    r = client.get("/predict", params={"arc_id": 191, "model": "seasonal_naive"})
    assert r.status_code == 200 and r.json()["forecasts"] == []  # not in the store
    assert "191" in " ".join(r.json()["warnings"])


def test_etl_names_the_files_that_load_nothing_and_reports_the_others(
    api: LiveApi, client: httpx.Client, shared_data: Path
) -> None:
    raw = api.data_dir / "raw" / "faulty"
    raw.mkdir(parents=True, exist_ok=True)
    good = shared_data / "exports" / "arc191_2021-11_2022-12.csv.gz"
    shutil.copy(good, raw / good.name)
    data = (shared_data / "exports" / "arc5672_2022-11_2023-12.csv.gz").read_bytes()
    (raw / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    (raw / "dates.csv").write_text("iu_ac;t_1h;q\n191;not a date;5\n191;never;6\n")
    names = [f"faulty/{n}" for n in ("cut.csv.gz", good.name, "dates.csv")]
    r = client.post("/etl", json={"files": names})
    assert r.status_code == 202, r.text
    job = api.wait_job(r.json()["job_id"])
    assert job["status"] == "failed", job
    assert job["error"]["type"] == "IngestError"
    assert "faulty/cut.csv.gz: truncated gzip" in job["error"]["message"]
    assert str(api.data_dir) not in job["error"]["message"]  # no server path in the answer
    result = job["result"]
    assert result["ingested"] == [f"faulty/{good.name}"]
    assert result["failed"] == ["faulty/cut.csv.gz", "faulty/dates.csv"]
    assert "faulty/dates.csv: no row could be loaded" in result["errors"][1]
    assert result["summary"]["rows_new"] > 8000 and result["summary"]["files_failed"] == 2
    assert 191 in set(pd.read_parquet(api.data_dir / "processed")["arc_id"])
    shutil.rmtree(raw)  # later tests take every file of raw/


def test_ingest_from_a_loopback_portal(api: LiveApi, client: httpx.Client) -> None:
    from infotrafic.testing import OpenDataServer

    with OpenDataServer.demo() as portal:  # SYNTHETIC data: arcs 4264, 5672, January 2023
        url = portal.url
        body = {
            "arcs": [5672],
            "start": "2023-01-10T00:00:00+01:00",
            "end": "2023-01-12T00:00:00+01:00",
            "base_url": url,
        }
        r = client.post("/ingest", json=body)
        assert r.status_code == 202, r.text
        job = api.wait_job(r.json()["job_id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["base_url"] == url.rstrip("/")
    assert "rows" in json.dumps(job["result"]["summary"])
    store = pd.read_parquet(api.data_dir / "processed")
    rows = store[store["arc_id"] == 5672]
    assert len(rows) == 48
    assert rows["time"].min() == pd.Timestamp("2023-01-09T23:00:00Z")
    # Wrong bodies are refused before any job starts.
    bad = {**body, "end": "2023-01-01T00:00:00+01:00"}
    assert client.post("/ingest", json=bad).status_code == 422
    assert client.post("/ingest", json={**body, "arcs": []}).status_code == 422


def test_parallel_trainings_keep_the_store_valid(api: LiveApi, client: httpx.Client) -> None:
    from common.modelstore import ModelStore

    bodies = [
        {"model": m, "backtest_days": 1, "horizons": [1, 2, 3]}
        for m in ("naive", "seasonal_naive") * 3
    ]
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda b: client.post("/training", json=b), bodies))
    assert [a.status_code for a in answers] == [202] * len(bodies)
    jobs = [api.wait_job(a.json()["job_id"], timeout=300) for a in answers]
    assert [j["status"] for j in jobs] == ["succeeded"] * len(bodies), jobs
    versions = {j["result"]["version"] for j in jobs}
    assert len(versions) == len(bodies)

    models = api.data_dir / "models"
    assert not [p for p in models.iterdir() if p.name.endswith(".tmp")]
    store = ModelStore(models)
    for version in versions:  # every model written is complete and loadable
        assert store.load(store.record(version)).model in {"naive", "seasonal_naive"}
    # The champion is a complete model, and the decisions were taken one at a time: the jobs
    # that say they became champion did so in turn, the last of them is the champion.
    chosen = json.loads((models / "champion.json").read_text())
    crowned = [j["result"]["version"] for j in jobs if j["result"]["champion"]]
    assert chosen["version"] in versions and chosen["version"] in crowned
    store.load(store.record(chosen["version"]))
    r = client.get("/predict", params={"arc_id": 4264})
    assert r.status_code == 200 and r.json()["model_version"] == chosen["version"]
    assert r.json()["champion"] is True


def test_jobs_unknown_and_listing(client: httpx.Client) -> None:
    assert client.get("/jobs/" + "0" * 32).status_code == 404
    assert client.get("/jobs/not-a-job").status_code == 422
    listed = client.get("/jobs").json()
    assert listed and all(
        j["status"] in ("queued", "running", "succeeded", "failed", "cancelled") for j in listed
    )


def test_models_listing(api: LiveApi, client: httpx.Client, trained: dict[str, Any]) -> None:
    # self-contained: the default training (fixture), then each model the listing is checked for
    # that no earlier test of the module trained (run alone with -k, or in another order)
    listed = {m["name"] for m in client.get("/models").json()}
    for name in sorted({"naive", "historical_average"} - listed):
        body = {"model": name, "horizons": [1], "backtest_days": 0}
        r = client.post("/training", json=body)
        assert r.status_code == 202, r.text
        assert api.wait_job(r.json()["job_id"], timeout=180)["status"] == "succeeded"
    models = client.get("/models").json()
    names = {m["name"] for m in models}
    assert len(models) >= 2 and names >= {"seasonal_naive", "naive", "historical_average"}
    assert sum(m["champion"] for m in models) == 1
    saved = [pd.Timestamp(m["saved_at"]) for m in models]
    assert saved == sorted(saved, reverse=True)  # newest first


def test_load_benchmark_runs(api: LiveApi, tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "api_load.py"),
            "--url",
            api.url,
            "--requests",
            "60",
            "--concurrency",
            "4",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figures = json.loads(out.read_text())
    assert figures["requests"] == 60 and figures["errors"] == 0
    assert figures["requests_per_second"] > 0
    assert 0 < figures["latency_ms"]["p50"] <= figures["latency_ms"]["p99"]
    assert "requests/s" in proc.stdout
