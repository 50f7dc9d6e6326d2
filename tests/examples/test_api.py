"""The example FastAPI service, tested through a real uvicorn on 127.0.0.1.

One server per module (its data dir in tmp_path); tests run in file order: the first ones see an
empty model store, ``test_training_empty_body`` trains the default model used by the rest.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pandas as pd
import pytest
import requests
import schemathesis
from _api_server import REPO, LiveApi, start_api, stop_api
from schemathesis.specs.openapi.checks import positive_data_acceptance

pytestmark = [pytest.mark.examples, pytest.mark.server]

sys.path.insert(0, str(REPO / "examples"))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    root = tmp_path_factory.mktemp("api")
    data_dir = root / "data"
    server = start_api(data_dir, root / "uvicorn.log")
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
    assert set(body["jobs"]) == {"queued", "running", "succeeded", "failed"}


def test_predict_before_training_is_409_with_a_hint(client: httpx.Client) -> None:
    r = client.get("/predict", params={"arc_id": 4264})
    assert r.status_code == 409
    assert "POST /training" in r.json()["message"]
    r = client.get("/backtest")
    assert r.status_code == 409


def test_openapi_lists_the_endpoints(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/ingest", "/etl", "/training", "/predict", "/jobs/{job_id}", "/backtest"):
        assert path in paths
    assert "post" in paths["/training"] and "get" in paths["/predict"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_training_empty_body(api: LiveApi, client: httpx.Client, trained: dict[str, Any]) -> None:
    result = trained["result"]
    assert trained["kind"] == "training" and trained["progress"] == 1.0
    assert result["name"] == "gbm" and result["source"] == "sample"
    assert set(result["arcs"]) >= {4264, 5672, 191}
    assert result["has_backtest"] is True
    assert result["metrics"]["mae"] > 0
    assert result["mlflow_run_id"] is None and "disabled" in result["mlflow_error"]
    models = api.data_dir / "models"
    assert (models / f"{result['version']}.model").exists()
    index = json.loads((models / "index.json").read_text())
    assert index["latest"] == result["version"]
    assert client.get("/health").json()["latest_model"] == result["version"]


def test_predict_returns_a_number(client: httpx.Client, trained: dict[str, Any]) -> None:
    r = client.get("/predict", params={"arc_id": 4264})
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["value"], float) and math.isfinite(body["value"])
    assert 0 <= body["value"] < 10_000  # vehicles/hour on one arc
    assert body["model"] == "gbm" and body["model_version"] == trained["result"]["version"]
    target, data_time = pd.Timestamp(body["target_time"]), pd.Timestamp(body["data_time"])
    assert target - data_time == pd.Timedelta(hours=1)
    assert data_time == pd.Timestamp(trained["result"]["data_end"]) or data_time <= pd.Timestamp(
        trained["result"]["data_end"]
    )


def test_predict_at_a_past_hour(client: httpx.Client, trained: dict[str, Any]) -> None:
    r = client.get("/predict", params={"arc_id": 5672, "at": "2023-06-15T18:00:00Z"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert pd.Timestamp(body["target_time"]) == pd.Timestamp("2023-06-15T18:00:00Z")
    assert pd.Timestamp(body["data_time"]) <= pd.Timestamp("2023-06-15T17:00:00Z")
    # Naive times are Europe/Paris wall-clock (CEST = UTC+2 in June).
    naive = client.get("/predict", params={"arc_id": 5672, "at": "2023-06-15T20:00:00"}).json()
    assert naive["value"] == body["value"]
    r = client.get("/predict", params={"arc_id": 5672, "at": "2023-06-15T18:30:00Z"})
    assert r.status_code == 422 and "on the hour" in r.json()["message"]


@pytest.mark.parametrize("arc", ["abc", "", "4264.5", "-3", "0", "1e9999"])
def test_predict_bad_arc_is_422(client: httpx.Client, arc: str, trained: dict[str, Any]) -> None:
    r = client.get("/predict", params={"arc_id": arc})
    assert r.status_code == 422
    assert "arc_id" in r.json()["message"]


def test_predict_missing_arc_is_422(client: httpx.Client) -> None:
    r = client.get("/predict")
    assert r.status_code == 422 and "arc_id" in r.json()["message"]


def test_predict_unknown_arc_is_404(client: httpx.Client, trained: dict[str, Any]) -> None:
    r = client.get("/predict", params={"arc_id": 999_999})
    assert r.status_code == 404
    assert "999999" in r.json()["message"]


def test_backtest_report(client: httpx.Client, trained: dict[str, Any]) -> None:
    r = client.get("/backtest")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "gbm" and body["metrics"]["mae"] > 0
    assert body["report"]
    assert client.get("/backtest", params={"model": "naive"}).status_code == 409


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
    if not src.exists():
        src = sorted((shared_data / "exports").glob("*4264*"))[0]
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
    r = client.get("/predict", params={"arc_id": 4264, "model": "seasonal_naive"})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "seasonal_naive"
    r = client.get("/predict", params={"arc_id": 191, "model": "seasonal_naive"})
    assert r.status_code == 404


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

    bodies = [{"model": m, "backtest_days": 1} for m in ("naive", "seasonal_naive") * 3]
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda b: client.post("/training", json=b), bodies))
    assert [a.status_code for a in answers] == [202] * len(bodies)
    jobs = [api.wait_job(a.json()["job_id"]) for a in answers]
    assert [j["status"] for j in jobs] == ["succeeded"] * len(bodies), jobs
    versions = {j["result"]["version"] for j in jobs}
    assert len(versions) == len(bodies)

    models = api.data_dir / "models"
    index = json.loads((models / "index.json").read_text())
    assert index["latest"] in versions
    assert index["by_name"]["naive"] in versions and index["by_name"]["seasonal_naive"] in versions
    assert not [p for p in models.iterdir() if p.name.endswith(".tmp")]
    store = ModelStore(models)
    for version in versions:  # every model written is complete and loadable
        model = store.load(store.record(version))
        assert model.__class__.__name__.lower().replace("forecaster", "") in {
            "naive",
            "seasonalnaive",
        }
    r = client.get("/predict", params={"arc_id": 4264})
    assert r.status_code == 200 and r.json()["model_version"] == index["latest"]


def test_jobs_unknown_and_listing(client: httpx.Client) -> None:
    assert client.get("/jobs/" + "0" * 32).status_code == 404
    assert client.get("/jobs/not-a-job").status_code == 422
    listed = client.get("/jobs").json()
    assert listed and all(
        j["status"] in ("queued", "running", "succeeded", "failed") for j in listed
    )


def test_models_listing(client: httpx.Client) -> None:
    models = client.get("/models").json()
    assert len(models) >= 2 and {m["name"] for m in models} >= {"gbm", "naive"}


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


# -- schemathesis: property-based calls generated from the live OpenAPI schema -----------------
# Bounded (few examples per operation, loopback only). POST /ingest would try to reach a portal and
# POST /training fits models: both are exercised above, not fuzzed.


def test_schemathesis(api: LiveApi, trained: dict[str, Any]) -> None:
    # (schemathesis' pytest plugin does not run under pytest 9: drive its strategies directly.)
    # Every check runs except "schema-valid data must be accepted": a well-formed request can
    # still be unanswerable (e.g. `at` not on the hour, or before any data) and gets a
    # documented 422 with a message.
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json").exclude(
        method="POST", path_regex="^/(ingest|training)$"
    )
    tested = []
    session = requests.Session()
    session.trust_env = False  # loopback only, whatever proxy the environment names
    for result in schema.get_all_operations():
        operation = result.ok()
        tested.append(f"{operation.method.upper()} {operation.path}")

        @hypothesis.settings(
            max_examples=10,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            derandomize=True,
            database=None,
        )
        @hypothesis.given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.call_and_validate(session=session, excluded_checks=[positive_data_acceptance])

        check()
    assert {"GET /predict", "POST /etl", "GET /jobs/{job_id}", "GET /backtest"} <= set(tested)
