"""The example API probed as an attacker on loopback would (issue 17), through a real uvicorn.

One token-protected server per module (two tokens: two clients; small limits: 3 queued jobs,
a 64 KiB body), plus short-lived servers for a restart, closed reads with CORS, and the
launcher. Tests run in file order: schemathesis first (empty store), then the probes.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from _api_server import API_DIR, REPO, LiveApi, free_port, start_api, stop_api
from schemathesis.specs.openapi.checks import positive_data_acceptance

# a live server probed as an attacker would: run once, in the full (pandas 2) session
pytestmark = [pytest.mark.examples, pytest.mark.server, pytest.mark.slow]

TOKEN_A = secrets.token_urlsafe(24)
TOKEN_B = secrets.token_urlsafe(24)
MAX_QUEUED = 3
MAX_BODY = 65_536
ENV = {
    "INFOTRAFIC_API_MAX_QUEUED": str(MAX_QUEUED),
    "INFOTRAFIC_API_MAX_BODY": str(MAX_BODY),
    "INFOTRAFIC_JOB_WORKERS": "1",
}
#: A training that takes a second or two on the bundled sample.
QUICK = {"model": "historical_average", "horizons": [1, 2], "backtest_days": 1}
WRITES = [
    ("POST", "/ingest", {"arcs": [4264], "start": "2023-01-01", "end": "2023-01-02"}),
    ("POST", "/etl", {}),
    ("POST", "/training", {}),
]
PROTECTED = [
    *WRITES,
    ("GET", "/jobs", None),
    ("GET", "/jobs/" + "0" * 32, None),
    ("DELETE", "/jobs/" + "0" * 32, None),
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    root = tmp_path_factory.mktemp("secure")
    tokens = root / "tokens.txt"
    tokens.write_text(f"# clients of the tests\n{TOKEN_B}\n")
    env = {**ENV, "INFOTRAFIC_API_TOKEN_FILE": str(tokens)}
    server = start_api(root / "data", root / "uvicorn.log", env=env, token=TOKEN_A)
    try:
        yield server
    finally:
        stop_api(server)


@pytest.fixture(scope="module")
def a(api: LiveApi) -> Iterator[httpx.Client]:
    with api.client() as c:
        yield c


@pytest.fixture(scope="module")
def b(api: LiveApi) -> Iterator[httpx.Client]:
    with api.client(token=TOKEN_B) as c:
        yield c


@pytest.fixture(scope="module")
def anonymous(api: LiveApi) -> Iterator[httpx.Client]:
    with api.client(token=False) as c:
        yield c


def _job_files(api: LiveApi) -> set[str]:
    return {p.name for p in (api.data_dir / "jobs").glob("*.json")}


def _wait(client: httpx.Client, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def _no_leak(text: str, api: LiveApi) -> None:
    assert "Traceback" not in text and 'File "' not in text, text
    assert str(api.data_dir) not in text and str(REPO) not in text, text
    assert "/tmp/" not in text and "/root/" not in text, text


# -- schemathesis against the live schema, with and without a token ------------------------------


def _checker(operation: Any, session: requests.Session, codes: list[int]) -> Any:
    @hypothesis.settings(
        max_examples=8,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        derandomize=True,
        database=None,
    )
    @hypothesis.given(case=operation.as_strategy())
    def check(case: Any) -> None:
        # Every check but "schema-valid data is accepted": valid data can be unanswerable (no
        # model yet, `at` before the data) and gets a documented 4xx with a message.
        response = case.call_and_validate(
            session=session, excluded_checks=[positive_data_acceptance]
        )
        codes.append(response.status_code)
        assert response.status_code < 500, response.text

    return check


def _fuzz(api: LiveApi, token: str | None) -> dict[str, list[int]]:
    """Run every operation's generated cases; the status codes seen per operation."""
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    if token is not None:  # fits models / reaches for a portal: exercised by the probes below
        schema = schema.exclude(method="POST", path_regex="^/(ingest|training)$")
    session = requests.Session()
    session.trust_env = False  # loopback only, whatever proxy the environment names
    if token is not None:
        session.headers["Authorization"] = f"Bearer {token}"
    seen: dict[str, list[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        codes = seen.setdefault(f"{operation.method.upper()} {operation.path}", [])
        _checker(operation, session, codes)()
    return seen


def test_schemathesis_with_a_token(api: LiveApi, a: httpx.Client) -> None:
    job = a.post("/training", json={**QUICK, "model": "seasonal_naive"}).json()
    assert _wait(a, job["job_id"])["status"] == "succeeded"  # forecasts to fuzz, not only 409s
    seen = _fuzz(api, TOKEN_A)
    assert 200 in seen["GET /predict"] and 200 in seen["GET /backtest"], seen
    assert {"GET /predict", "POST /etl", "GET /jobs", "DELETE /jobs/{job_id}"} <= set(seen)
    assert all(codes for codes in seen.values())
    assert not any(401 in codes for codes in seen.values()), seen


def test_schemathesis_without_a_token(api: LiveApi) -> None:
    seen = _fuzz(api, None)
    protected = {f"{m} {p}" for m, p, _ in PROTECTED} | {"GET /jobs/{job_id}"}
    protected |= {"DELETE /jobs/{job_id}"}
    for label, codes in seen.items():
        if label in protected:  # refused before anything else is looked at (422 included)
            assert set(codes) <= {401, 415, 413}, (label, codes)
            assert 401 in codes, (label, codes)
        else:
            assert 401 not in codes, (label, codes)
    assert {"POST /ingest", "POST /training", "GET /jobs"} <= set(seen)


# -- authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_protected_endpoints_need_a_valid_token(
    api: LiveApi, anonymous: httpx.Client, method: str, path: str, body: Any
) -> None:
    before = _job_files(api)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic YTpi"}):
        r = anonymous.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"].startswith("Bearer"), r.headers
        assert r.json()["message"]
    wrong = anonymous.request(method, path, json=body, headers={"Authorization": "Bearer x"})
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert _job_files(api) == before  # nothing was queued


def test_reads_are_open_by_default(anonymous: httpx.Client) -> None:
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/models").json()  # the model trained above
    assert anonymous.get("/predict", params={"arc_id": 4264}).status_code == 200
    assert anonymous.get("/backtest").status_code == 200


def test_openapi_declares_the_bearer_scheme(anonymous: httpx.Client) -> None:
    schema = anonymous.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token of INFOTRAFIC_API_TOKEN / INFOTRAFIC_API_TOKEN_FILE.",
    }
    paths = schema["paths"]
    for method, path, _ in PROTECTED:
        key = "/jobs/{job_id}" if path.startswith("/jobs/") else path
        operation = paths[key][method.lower()]
        assert operation["security"] == [{"bearerAuth": []}], (method, path)
        assert "401" in operation["responses"]
    assert "security" not in paths["/predict"]["get"]
    for path in ("/ingest", "/etl", "/training"):
        assert {"413", "415", "429"} <= set(paths[path]["post"]["responses"])


# -- CSRF -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_a_cross_origin_simple_post_starts_nothing(
    api: LiveApi, a: httpx.Client, content_type: str | None
) -> None:
    """What a page of another origin can send without a preflight: refused (415), even with a
    valid token; and CORS is off, so a JSON post from that page would never be sent."""
    before = _job_files(api)
    headers = {"Origin": "http://evil.example"}
    if content_type:
        headers["Content-Type"] = content_type
    r = a.post("/training", content=b"{}", headers=headers)
    assert r.status_code == 415, r.text
    assert "application/json" in r.json()["message"]
    assert _job_files(api) == before
    preflight = a.options(
        "/training",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


# -- bounded work ---------------------------------------------------------------------------------


def test_fifty_trainings_are_bounded_and_one_runs_at_a_time(api: LiveApi, a: httpx.Client) -> None:
    t0 = time.monotonic()
    answers = [a.post("/training", json=QUICK) for _ in range(50)]
    accepted = [r.json()["job_id"] for r in answers if r.status_code == 202]
    refused = [r for r in answers if r.status_code == 429]
    assert len(accepted) + len(refused) == 50
    # One may have left the queue to run meanwhile, a few more if trainings are that quick.
    assert MAX_QUEUED <= len(accepted) <= MAX_QUEUED + 3, len(accepted)
    for r in refused:
        assert int(r.headers["retry-after"]) > 0 and "INFOTRAFIC_API_MAX_QUEUED" in r.text
    running_seen = []
    while True:
        states = [j["status"] for j in a.get("/jobs").json() if j["job_id"] in accepted]
        running_seen.append(states.count("running"))
        if all(s in ("succeeded", "failed", "cancelled") for s in states):
            break
        assert time.monotonic() - t0 < 300
        time.sleep(0.05)
    assert max(running_seen) <= 1
    jobs = [a.get(f"/jobs/{j}").json() for j in accepted]
    assert [j["status"] for j in jobs] == ["succeeded"] * len(jobs), jobs
    spans = sorted((j["started_at"], j["finished_at"]) for j in jobs)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end <= start, spans  # never two trainings at once


def test_cancel_a_queued_and_a_running_job(api: LiveApi, a: httpx.Client, b: httpx.Client) -> None:
    first = a.post("/training", json=QUICK).json()["job_id"]
    second = a.post("/training", json=QUICK).json()["job_id"]
    assert b.delete(f"/jobs/{second}").status_code == 404  # not B's job
    r = a.delete(f"/jobs/{second}")
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    r = a.delete(f"/jobs/{first}")
    assert r.status_code == 200, r.text
    if r.json()["status"] == "running":
        assert "cancel requested" in r.json()["message"]
    done = _wait(a, first)
    assert done["status"] in ("cancelled", "succeeded"), done  # succeeded: it ended first
    assert _wait(a, second)["status"] == "cancelled"
    record = json.loads((api.data_dir / "jobs" / f"{second}.json").read_text())
    assert record["job"]["status"] == "cancelled" and TOKEN_A not in json.dumps(record)
    assert a.delete(f"/jobs/{second}").json()["status"] == "cancelled"  # finished: unchanged


def test_jobs_belong_to_their_token(a: httpx.Client, b: httpx.Client) -> None:
    mine = {j["job_id"] for j in a.get("/jobs").json()}
    assert mine
    assert b.get("/jobs").json() == []
    job = next(iter(mine))
    assert b.get(f"/jobs/{job}").status_code == 404
    assert a.get(f"/jobs/{job}").status_code == 200


def _raw_request(api: LiveApi, head: str, body_chunks: Iterator[bytes] | None) -> tuple[bytes, int]:
    """Send a request by hand; the response head and how many body bytes went out before it."""
    host, port = urlsplit(api.url).hostname, urlsplit(api.url).port
    sent = 0
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1"))
        for chunk in body_chunks or ():
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    return answer, sent


def test_a_150_mb_body_is_refused_without_being_read(api: LiveApi, a: httpx.Client) -> None:
    t0 = time.monotonic()  # as an ordinary client sends it: refused on its Content-Length
    r = a.post(
        "/training", content=b"{" * (150 * 2**20), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413 and "INFOTRAFIC_API_MAX_BODY" in r.json()["message"], r.text
    assert time.monotonic() - t0 < 20
    auth = f"Authorization: Bearer {TOKEN_A}\r\nContent-Type: application/json\r\n"
    head = f"POST /etl HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {150 * 2**20}\r\n\r\n"
    t0 = time.monotonic()
    answer, _ = _raw_request(api, head, None)  # not one byte of the body is sent
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - t0 < 10

    def chunks() -> Iterator[bytes]:  # chunked: no length to judge by, counted as it streams
        block = b"x" * 65536
        for _ in range(150 * 16):
            yield b"%x\r\n%s\r\n" % (len(block), block)

    head = f"POST /training HTTP/1.1\r\nHost: x\r\n{auth}Transfer-Encoding: chunked\r\n\r\n"
    answer, sent = _raw_request(api, head, chunks())
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 32 * 2**20, sent  # refused while streaming, far before 150 MB


def test_a_body_over_the_limit_is_413_under_it_is_read(a: httpx.Client) -> None:
    big = json.dumps({"files": ["x" * 200] * 350})  # 70 kB > 64 KiB
    r = a.post("/etl", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and str(MAX_BODY) in r.json()["message"]
    r = a.post("/etl", json={"files": ["x" * 200] * 100})
    assert r.status_code == 404  # read, parsed, and the file is not there


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"model": "gbm", "params": {"learning_rate": "fast"}}, ["learning_rate"]),
        ({"model": "gbm", "params": {"max_iter": True}}, ["max_iter"]),
        ({"model": "gbm", "params": {"max_iter": "100"}}, ["max_iter"]),
        ({"model": "gbm", "params": {"backend": "cuda"}}, ["backend"]),
        ({"model": "gbm", "params": {"max_iter": -5}}, ["max_iter", ">= 1"]),
        ({"model": "gbm", "params": {"learning_rate": 0.0}}, ["learning_rate", "> 0"]),
        ({"model": "gbm", "params": {"subsample": 1.5}}, ["subsample", "(0, 1]"]),
        ({"model": "gbm", "params": {"target_forms": "cubic"}}, ["target_forms"]),
        ({"model": "seasonal_naive", "params": {"no_such_param": 1}}, ["no_such_param"]),
        ({"model": "seasonal_naive", "params": {"horizon": 3}}, ["horizon"]),
        ({"model": "seasonal_naive", "params": {"x" * 100: 1}}, ["params"]),
        ({"model": "seasonal_naive", "params": {"season": "y" * 10_000}}, ["season"]),
        ({"model": "m" * 300}, ["model"]),
        ({"model": "no_such_model"}, ["no_such_model"]),
        ({"end": "9999-12-31T00:00:00"}, ["end", "range"]),
        ({"start": "2023-03-26T02:00:00"}, ["start", "does not exist or is ambiguous"]),
        ({"validate_start": "2023-10-29T02:00:00"}, ["validate_start", "ambiguous"]),
    ],
)
def test_bad_training_requests_are_422_at_submit(
    api: LiveApi, a: httpx.Client, body: dict[str, Any], words: list[str]
) -> None:
    before = _job_files(api)
    r = a.post("/training", json=body)
    assert r.status_code == 422, r.text
    message = r.json()["message"]
    assert all(w in message for w in words), message
    _no_leak(r.text, api)
    assert _job_files(api) == before


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        ("2023-03-26T02:00:00", "2023-03-27T00:00:00", ["start", "does not exist"]),
        ("2023-10-28T00:00:00", "2023-10-29T02:00:00", ["end", "ambiguous"]),
        ("2023-01-01T00:00:00", "9999-12-31T23:00:00", ["end", "range"]),
        ("2023-01-01T00:30:00", "2023-01-02T00:00:00", ["start", "on the hour"]),
    ],
)
def test_ingest_times_follow_the_library_rule(
    api: LiveApi, a: httpx.Client, start: str, end: str, words: list[str]
) -> None:
    before = _job_files(api)
    r = a.post("/ingest", json={"arcs": [4264], "start": start, "end": end})
    assert r.status_code == 422, r.text
    assert all(w in r.json()["message"] for w in words), r.json()
    assert _job_files(api) == before


@pytest.mark.parametrize(
    "at", ["2023-03-26T02:00:00", "2023-10-29T02:00:00", "9999-12-31T23:00:00", "9999-12-31"]
)
def test_predict_bad_at_is_422(anonymous: httpx.Client, at: str) -> None:
    r = anonymous.get("/predict", params={"arc_id": 4264, "at": at})
    assert r.status_code == 422, r.text
    message = r.json()["message"]
    assert "at:" in message and ("ambiguous" in message or "range" in message), message


@pytest.mark.parametrize(
    "name", ["a" * 256, "d/" + "b" * 300 + ".csv", "c" * 1025, "é" * 200 + ".csv"]
)
def test_long_file_names_are_422(api: LiveApi, a: httpx.Client, name: str) -> None:
    r = a.post("/etl", json={"files": [name]})
    assert r.status_code == 422, r.text
    assert "files" in r.json()["message"]
    _no_leak(r.text, api)


def test_symlinks_leading_out_of_the_data_dir_are_never_read(
    api: LiveApi, a: httpx.Client, shared_data: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = "iu_ac;t_1h;q\n4264;2023-01-01T00:00:00+01:00;SECRET-CONTENT-42\n"
    (outside / "secret.csv").write_text(secret)
    raw = api.data_dir / "raw"
    (raw / "evil.csv").symlink_to(outside / "secret.csv")
    (raw / "evil_dir").symlink_to(outside)
    good = shared_data / "exports" / "arc4264_2022.csv.gz"
    shutil.copy(good, raw / good.name)
    (raw / "alias.csv.gz").symlink_to(raw / good.name)  # a link staying inside: fine
    try:
        for name in ("evil.csv", "evil_dir/secret.csv"):
            r = a.post("/etl", json={"files": [name]})
            assert r.status_code == 422 and "outside" in r.json()["message"], r.text
            _no_leak(r.text, api)
        r = a.post("/etl", json={})  # the default listing
        assert r.status_code == 202, r.text
        job = _wait(a, r.json()["job_id"])
        text = json.dumps(job)
        assert "SECRET-CONTENT" not in text and str(outside) not in text
        assert job["status"] == "succeeded", job
        assert "evil.csv" in job["result"]["skipped"]
        assert not any("evil" in f for f in job["result"]["files"] + job["result"]["ingested"])
        assert job["result"]["ingested"] == [good.name]  # the inside link: that file, once
        assert "alias.csv.gz" not in job["result"]["skipped"]
        _no_leak(text, api)
    finally:
        for name in ("evil.csv", "evil_dir", "alias.csv.gz", good.name):
            (raw / name).unlink()


def test_job_errors_carry_a_message_without_host_paths(api: LiveApi, a: httpx.Client) -> None:
    raw = api.data_dir / "raw" / "broken"
    raw.mkdir()
    (raw / "cut.csv.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 40)
    (raw / "dates.csv").write_text("iu_ac;t_1h;q\n191;not a date;5\n")
    try:
        r = a.post("/etl", json={"files": ["broken/cut.csv.gz", "broken/dates.csv"]})
        assert r.status_code == 202, r.text
        job = _wait(a, r.json()["job_id"])
        assert job["status"] == "failed" and job["error"]["message"], job
        assert "broken/cut.csv.gz" in job["error"]["message"]
        _no_leak(json.dumps(job), api)
        # A job failing on the network (the portal is a closed loopback port here).
        r = a.post("/ingest", json={"arcs": [4264], "start": "2023-01-01", "end": "2023-01-02"})
        assert r.status_code == 202, r.text
        job = _wait(a, r.json()["job_id"])
        assert job["status"] == "failed" and job["error"]["message"], job
        _no_leak(json.dumps(job), api)
    finally:
        shutil.rmtree(raw)


# -- restart, closed reads, CORS, the launcher ---------------------------------------------------


def test_job_records_survive_a_killed_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    token = secrets.token_urlsafe(24)
    server = start_api(data, tmp_path / "first.log", env=ENV, token=token)
    try:
        with server.client() as c:
            slow = {"model": "gbm", "horizons": list(range(1, 7)), "backtest_days": 2}
            running = c.post("/training", json=slow).json()["job_id"]
            queued = [c.post("/training", json=QUICK).json()["job_id"] for _ in range(2)]
            deadline = time.monotonic() + 60
            while c.get(f"/jobs/{running}").json()["status"] != "running":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert [c.get(f"/jobs/{j}").json()["status"] for j in queued] == ["queued"] * 2
    finally:
        server.proc.send_signal(signal.SIGKILL)  # a crash: nothing gets to clean up
        server.proc.wait(timeout=10)
        server.log_file.close()
    again = start_api(data, tmp_path / "second.log", env=ENV, token=token)
    try:
        with again.client() as c:
            job = c.get(f"/jobs/{running}").json()
            assert job["status"] == "failed" and job["error"]["type"] == "Interrupted", job
            assert "submit it again" in job["error"]["message"]
            for job_id in queued:  # queued work is queued again, and runs
                assert _wait(c, job_id)["status"] == "succeeded"
            assert {running, *queued} <= {j["job_id"] for j in c.get("/jobs").json()}
        with again.client(token=secrets.token_urlsafe(24)) as other:
            assert other.get("/jobs").status_code == 401
    finally:
        stop_api(again)


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INFOTRAFIC_API_")}
    return subprocess.Popen(
        [sys.executable, str(API_DIR / "serve.py"), *args],
        cwd=REPO,
        env={**clean, "NO_PROXY": "127.0.0.1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The app's modules importable here, its environment clean (no token, a fresh data dir)."""
    for key in [k for k in os.environ if k.startswith("INFOTRAFIC_API_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("INFOTRAFIC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("INFOTRAFIC_MLFLOW_ENABLED", "false")
    monkeypatch.syspath_prepend(str(API_DIR.parent))
    monkeypatch.syspath_prepend(str(API_DIR))
    for name in ("app", "serve"):  # e.g. the dashboard's own "app" module
        if name in sys.modules:
            monkeypatch.delitem(sys.modules, name)
    yield


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.org"])
def test_launcher_refuses_a_public_address_without_a_token(
    in_process: None, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    import serve

    assert serve.main(["--host", host, "--port", "9"]) == 2  # before anything is bound
    err = capsys.readouterr().err
    assert "refusing to bind" in err and "INFOTRAFIC_API_TOKEN" in err and "--insecure" in err


def test_launcher_with_a_created_token_closed_reads_and_cors(tmp_path: Path) -> None:
    port = free_port()
    token_file = tmp_path / "secrets" / "api_token"
    env = {
        "INFOTRAFIC_DATA_DIR": str(tmp_path / "data"),
        "INFOTRAFIC_API_TOKEN_FILE": str(token_file),
        "INFOTRAFIC_API_TOKEN": "given-in-the-environment-" + "x" * 16,  # accepted too (compose)
        "INFOTRAFIC_MLFLOW_ENABLED": "false",
        "INFOTRAFIC_API_OPEN_READS": "false",
        "INFOTRAFIC_API_CORS_ORIGINS": '["http://dashboard.example"]',
    }
    proc = _serve("--port", str(port), "--create-token-file", "--log-level", "warning", env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if httpx.get(f"{url}/health", trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)
        token = token_file.read_text().strip()
        assert len(token) >= 32 and (token_file.stat().st_mode & 0o777) == 0o600
        headers = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(base_url=url, trust_env=False) as anonymous,
            httpx.Client(base_url=url, trust_env=False, headers=headers) as c,
        ):
            assert anonymous.get("/jobs").status_code == 401
            assert c.get("/jobs").json() == []
            given = {"Authorization": f"Bearer {env['INFOTRAFIC_API_TOKEN']}"}
            assert anonymous.get("/jobs", headers=given).status_code == 200
            for path in ("/models", "/predict", "/backtest"):  # reads closed by configuration
                assert anonymous.get(path).status_code == 401
                assert c.get(path).status_code != 401
            assert anonymous.get("/health").status_code == 200  # liveness stays open
            schema = anonymous.get("/openapi.json").json()
            assert schema["paths"]["/predict"]["get"]["security"] == [{"bearerAuth": []}]
            asks = {"Access-Control-Request-Method": "POST"}
            allowed = anonymous.options(
                "/training", headers={"Origin": "http://dashboard.example", **asks}
            )
            assert allowed.headers["access-control-allow-origin"] == "http://dashboard.example"
            evil = {"Origin": "http://evil.example", **asks}
            other = anonymous.options("/training", headers=evil)
            assert "access-control-allow-origin" not in other.headers
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert token_file.read_text().strip() == token  # an existing file is never replaced


def test_without_a_token_only_loopback_addresses_are_answered(
    in_process: None, tmp_path: Path
) -> None:
    """``uvicorn app:app --host 0.0.0.0`` without a token: the app itself refuses requests that
    reach a non-loopback address of the server (driven in process: no public socket)."""
    import asyncio

    from app import create_app
    from common.settings import ExampleSettings

    async def status(transport: httpx.ASGITransport, base: str) -> int:
        async with httpx.AsyncClient(transport=transport, base_url=base) as c:
            return (await c.get("/health")).status_code

    for insecure, expected in ((False, 403), (True, 200)):
        settings = ExampleSettings(
            data_dir=tmp_path / "data", mlflow_enabled=False, api_insecure=insecure
        )
        transport = httpx.ASGITransport(app=create_app(settings))
        assert asyncio.run(status(transport, "http://127.0.0.1:8000")) == 200
        assert asyncio.run(status(transport, "http://192.0.2.10:8000")) == expected
