"""The docker stack really builds and runs: base image, five service images, compose on loopback.

Selected only with ``-m docker`` (the ``docker`` nox session). Steps:

1. a Docker engine (``dockerd`` is started when installed but not running; skip only when there
   is no engine at all) and compose (``docker compose`` v2 or ``docker-compose`` v1);
2. the local base image ``infotrafic-base:local`` (``docker/build_base.sh``: debootstrap +
   ``docker import``; kept between runs);
3. every service image built with ``--network host`` on that base;
4. the stack (MLflow, API, dashboard) on the host network, loopback ports only; the ingest
   service once against a loopback portal (:class:`infotrafic.testing.OpenDataServer`), the ETL
   service on a real export file, the training service once (``infotrafic.forecasting.train``,
   registered in MLflow as the champion), then ``POST /training`` on the API, ``/jobs/{id}``
   until done, and ``/predict`` of several arcs and every horizon from the MLflow champion —
   and everything is torn down, always.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = os.environ.get("INFOTRAFIC_DOCKER_BASE", "infotrafic-base:local")
SERVICES_UP = ["mlflow", "api", "front"]
EXPORT = "exports/arc4264_2022-11_2023-12.csv.gz"

pytestmark = [pytest.mark.docker, pytest.mark.slow]
_DAEMONS: list[subprocess.Popen[bytes]] = []


def _run(cmd: list[str], *, timeout: float, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} -> {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def _engine_ready() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return _run(["docker", "info"], timeout=30, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _ensure_engine() -> None:
    if _engine_ready():
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None or shutil.which("docker") is None:
        pytest.skip("no Docker engine: install docker.io (docker/ci_prereqs.sh)")
    if os.geteuid() != 0:
        pytest.skip("Docker engine not running and starting dockerd needs root")
    with open("/tmp/dockerd.log", "ab") as log:  # the daemon keeps its own copy of the fd
        _DAEMONS.append(
            subprocess.Popen([dockerd], stdout=log, stderr=log, start_new_session=True)
        )  # kept referenced: it must outlive the test without a ResourceWarning
    deadline = time.monotonic() + 90
    while not _engine_ready():
        if time.monotonic() > deadline:
            pytest.skip("dockerd did not come up in 90 s (see /tmp/dockerd.log)")
        time.sleep(1)


def _compose() -> list[str]:
    if _run(["docker", "compose", "version"], timeout=30, check=False).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("neither `docker compose` nor `docker-compose` is installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http(
    url: str, *, data: Any = None, timeout: float = 10, token: str | None = None
) -> tuple[int, Any]:
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as err:
        raw, status = err.read(), err.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, last = _http(url, timeout=5)
            if status == 200:
                return
        except OSError as exc:
            last = exc
        time.sleep(2)
    raise AssertionError(f"{url} not ready after {timeout:.0f} s: {last!r}")


@pytest.fixture(scope="module")
def docker_selected(request: pytest.FixtureRequest) -> None:
    if "docker" not in (request.config.getoption("markexpr") or "").replace("not docker", ""):
        pytest.skip("docker stack test: run with `pytest -m docker` (nox -s docker)")


@pytest.fixture(scope="module")
def images(
    docker_selected: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    t0 = time.monotonic()
    _ensure_engine()
    compose = _compose()
    if _run(["docker", "image", "inspect", BASE_IMAGE], timeout=60, check=False).returncode:
        if os.geteuid() != 0 or shutil.which("debootstrap") is None:
            pytest.skip(f"{BASE_IMAGE} missing and debootstrap/root unavailable to build it")
        _run(["sh", "docker/build_base.sh", BASE_IMAGE], timeout=1800)
    t_base = time.monotonic() - t0
    env = {
        **os.environ,
        "BASE_IMAGE": BASE_IMAGE,
        "INFOTRAFIC_BUILD_NETWORK": "host",
        "DOCKER_BUILDKIT": os.environ.get("DOCKER_BUILDKIT", "0"),
        "COMPOSE_DOCKER_CLI_BUILD": os.environ.get("COMPOSE_DOCKER_CLI_BUILD", "0"),
    }
    # The host-network variant of docker-compose.yml (docker/host_compose.py), outside the repo.
    host_file = tmp_path_factory.mktemp("compose") / "compose.host.yml"
    host_file.write_text(_run([sys.executable, "docker/host_compose.py"], timeout=60).stdout)
    project = ["-p", f"infotrafic-test-{os.getpid()}", "-f", str(host_file)]
    _run([*compose, *project, "build"], env=env, timeout=2400)
    t_build = time.monotonic() - t0 - t_base
    print(f"\ndocker: base image {t_base:.0f} s, service images {t_build:.0f} s")
    yield {"compose": " ".join(compose), "project": project[1], "file": str(host_file), **env}


@pytest.fixture
def stack(images: dict[str, str], tmp_path: Path) -> Iterator[dict[str, Any]]:
    compose = images["compose"].split()
    data = tmp_path / "data"
    for sub in ("raw", "processed", "models", "mlflow"):
        (data / sub).mkdir(parents=True)
    ports = {
        "INFOTRAFIC_API_PORT": _free_port(),
        "INFOTRAFIC_FRONT_PORT": _free_port(),
        "INFOTRAFIC_MLFLOW_PORT": _free_port(),
    }
    env = {
        **{k: v for k, v in images.items() if k not in ("compose", "project", "file")},
        **{k: str(v) for k, v in ports.items()},
        "INFOTRAFIC_HOST_DATA": str(data),
        "INFOTRAFIC_BASE_URL": "http://127.0.0.1:9",  # never the internet from a test
        "INFOTRAFIC_API_TOKEN": secrets.token_urlsafe(24),  # writes and /jobs need it
    }
    base = [*compose, "-p", images["project"], "-f", images["file"]]
    try:
        _run([*base, "up", "-d", "--no-build", *SERVICES_UP], env=env, timeout=300)
        yield {"run": lambda *a, **k: _run([*base, *a], env=env, **k), "data": data,
               "token": env["INFOTRAFIC_API_TOKEN"],
               "api": f"http://127.0.0.1:{ports['INFOTRAFIC_API_PORT']}",
               "front": f"http://127.0.0.1:{ports['INFOTRAFIC_FRONT_PORT']}",
               "mlflow": f"http://127.0.0.1:{ports['INFOTRAFIC_MLFLOW_PORT']}"}  # fmt: skip
    finally:
        logs = _run([*base, "logs", "--no-color", "--tail", "60"], env=env, timeout=120,
                    check=False)  # fmt: skip
        print(logs.stdout[-6000:])
        _run([*base, "down", "-v", "--remove-orphans", "--timeout", "10"], env=env,
             timeout=300, check=False)  # fmt: skip
        if os.geteuid() != 0:  # files written by root in the containers: give them back
            _run(["docker", "run", "--rm", "--network", "none", "-v", f"{data}:/d", BASE_IMAGE,
                  "chown", "-R", f"{os.geteuid()}:{os.getegid()}", "/d"], timeout=120,
                 check=False)  # fmt: skip


def test_stack_serves_forecasts(stack: dict[str, Any], shared_data: Path) -> None:
    t0 = time.monotonic()
    api = stack["api"]
    _wait_http(f"{api}/health", timeout=240)
    _wait_http(f"{stack['mlflow']}/health", timeout=240)
    _wait_http(f"{stack['front']}/_stcore/health", timeout=240)
    status, health = _http(f"{api}/health")
    assert status == 200 and isinstance(health, dict), health

    # Ingest service, once: `infotrafic sync` from a loopback portal (the host network lets the
    # container reach the test's server) serving the last 30 days of the bundled sample.
    from infotrafic.datasets import load_sample, load_sample_arcs
    from infotrafic.testing import OpenDataServer

    sample = load_sample()
    recent = sample[sample["time"] > sample["time"].max() - pd.Timedelta(days=30)]
    with OpenDataServer(panel=recent, arcs=load_sample_arcs()) as portal:
        stack["run"]("run", "--rm", "-e", "INFOTRAFIC_INTERVAL=0", "-e",
                     f"INFOTRAFIC_BASE_URL={portal.url}", "ingest", timeout=600)  # fmt: skip
    stored = pd.read_parquet(stack["data"] / "processed")
    assert set(stored["arc_id"]) == {4264, 5672, 191}
    assert stored["time"].max() == sample["time"].max()

    # ETL service: a real export file (tests/data/paris) of raw/ into the store of processed/.
    shutil.copy(shared_data / EXPORT, stack["data"] / "raw")
    stack["run"]("run", "--rm", "etl", timeout=600)
    assert any((stack["data"] / "processed").rglob("*.parquet")), "etl wrote no parquet"

    # Training service, once: infotrafic.forecasting.train into the shared models volume,
    # registered on the tracking server (the first model: the champion).
    out = stack["run"](
        "run", "--rm", "-e", "INFOTRAFIC_INTERVAL=0", "-e", "INFOTRAFIC_TRAIN_MODEL=seasonal_naive",
        "-e", "INFOTRAFIC_TRAIN_HORIZONS=1 2 3", "training", timeout=900,
    ).stdout  # fmt: skip
    record = json.loads(out[out.index("{") :])
    assert record["name"] == "seasonal_naive" and record["horizons"] == [1, 2, 3]
    assert record["source"] == "store"  # INFOTRAFIC_TRAIN_DATA=auto: the store has data
    assert record["mlflow_error"] is None and record["mlflow"]["run_id"], record
    assert record["champion"] is True, record
    assert (stack["data"] / "models" / record["version"] / "manifest.json").exists()

    # The API: a training job (registered too; champion only when not worse), then forecasts.
    body = {"model": "naive", "horizons": [1, 2, 3], "backtest_days": 3}
    status, refused = _http(f"{api}/training", data=body)  # no token: refused, nothing runs
    assert status == 401, refused
    status, job = _http(f"{api}/training", data=body, token=stack["token"])
    assert status == 202, job
    deadline = time.monotonic() + 900
    while True:
        status, state = _http(f"{api}/jobs/{job['job_id']}", token=stack["token"])
        assert status == 200, state
        if state["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert state["status"] == "succeeded", state
    assert state["result"]["mlflow"]["version"] == "2", state["result"]
    status, registered = _http(
        f"{stack['mlflow']}/api/2.0/mlflow/registered-models/get?name=infotrafic"
    )
    assert status == 200, registered
    aliases = {a["alias"]: a["version"] for a in registered["registered_model"]["aliases"]}
    champion = aliases["champion"]
    assert champion == ("2" if state["result"]["champion"] else "1"), (aliases, state)

    status, pred = _http(f"{api}/predict?arc_id=4264&arc_id=5672", timeout=120)
    assert status == 200, pred
    assert pred["registry"] == "mlflow" and pred["model_version"] == f"infotrafic/{champion}"
    rows = pred["forecasts"]
    assert {r["arc_id"] for r in rows} == {4264, 5672} and len(rows) == 6, pred
    for row in rows:
        assert row["lo_95"] <= row["lo_80"] <= row["flow"] <= row["hi_80"] <= row["hi_95"], row
        assert row["state"] in ("Fluide", "Pré-saturé", "Saturé", "Bloqué"), row
    status, err = _http(f"{api}/predict?arc_id=abc")
    assert status == 422, err
    status, err = _http(f"{api}/predict?arc_id=4264&at=2023-10-29T02:00:00")
    assert status == 422 and "ambiguous" in err["message"], err
    print(f"\ndocker stack: up to /predict in {time.monotonic() - t0:.0f} s; rows {rows[:2]}")
