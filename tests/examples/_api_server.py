"""Start the example API in a real uvicorn subprocess on 127.0.0.1 (shared by the API tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

REPO = Path(__file__).resolve().parents[2]
API_DIR = REPO / "examples" / "api"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveApi:
    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    token: str | None = None

    def client(self, token: str | None | bool = True, **kwargs: Any) -> httpx.Client:
        """A client of the server; with its token unless ``token`` is False or another one."""
        key = self.token if token is True else (token or None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(
            base_url=self.url, timeout=60.0, trust_env=False, headers=headers, **kwargs
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def wait_job(self, job_id: str, timeout: float = 90.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.client() as c:
            while True:
                body: dict[str, Any] = c.get(f"/jobs/{job_id}").json()
                if body["status"] in ("succeeded", "failed"):
                    return body
                if time.monotonic() > deadline:
                    raise TimeoutError(f"job {job_id} still {body['status']}: {body}")
                time.sleep(0.2)


def start_api(
    data_dir: Path,
    log_path: Path,
    env: dict[str, str] | None = None,
    token: str | None = None,
    port: int | None = None,
) -> LiveApi:
    """uvicorn on 127.0.0.1 (``port``: a free one by default); ``token``: INFOTRAFIC_API_TOKEN
    of the server and of the clients made by :meth:`LiveApi.client`."""
    port = port or free_port()
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INFOTRAFIC_API_")},
        "INFOTRAFIC_DATA_DIR": str(data_dir),
        # Never the real portal from tests: a closed loopback port.
        "INFOTRAFIC_BASE_URL": "http://127.0.0.1:9",
        "INFOTRAFIC_MAX_RETRIES": "0",
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONWARNINGS": "ignore",
        # A quick default model (24 horizons of gbm take minutes on a busy machine; the API
        # does the same calls whatever the model). MLflow registration is tested by
        # test_mlflow.py (a fresh tracking store costs seconds to create).
        "INFOTRAFIC_MLFLOW_ENABLED": "false",
        "INFOTRAFIC_DEFAULT_MODEL": "seasonal_naive",
        "INFOTRAFIC_DEFAULT_PARAMS": "{}",
        **({"INFOTRAFIC_API_TOKEN": token} if token else {}),
        **(env or {}),
    }
    log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app:app",
            "--app-dir",
            "examples/api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = LiveApi(f"http://127.0.0.1:{port}", data_dir, proc, log_path, log, token)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {proc.returncode}:\n{api.log()}")
        try:
            with api.client() as c:
                if c.get("/health").status_code == 200:
                    return api
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop_api(api)
            raise RuntimeError(f"uvicorn did not answer /health within 60 s:\n{api.log()}")
        time.sleep(0.2)


def stop_api(api: LiveApi) -> None:
    api.proc.terminate()
    try:
        api.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        api.proc.kill()
        api.proc.wait(timeout=5)
    finally:
        api.log_file.close()
