"""Bounded load test of ``GET /predict`` of the example API (loopback only).

Either against a running server (``--url http://127.0.0.1:8000``, a model must be trained) or
self-contained (``--start``: starts uvicorn on a free loopback port with a temporary data dir,
trains ``--model`` on the bundled sample through ``POST /training``, then measures)::

    python benchmarks/api_load.py --start --requests 500 --concurrency 8
    python benchmarks/api_load.py --url http://127.0.0.1:8000 --requests 500 --concurrency 8

Requests cycle over ``--arcs`` and ``--hours`` distinct target hours (``at=``), so that with
``--hours 0`` every request asks the next-hour forecast (answers cached per model version) and
with ``--hours N`` the server computes up to ``len(arcs) * N`` distinct forecasts (cold path).
Reports requests/s and latency percentiles (ms); ``--json`` writes them to a file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _loopback_only(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing to load-test {url}: loopback only (127.0.0.1)")


async def _run(
    url: str, paths: list[str], concurrency: int
) -> tuple[list[float], int, float, list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    queue: asyncio.Queue[str] = asyncio.Queue()
    for p in paths:
        queue.put_nowait(p)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, timeout=30.0, limits=limits, trust_env=False
    ) as client:

        async def worker() -> None:
            while True:
                try:
                    path = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                try:
                    r = await client.get(path)
                    ok = r.status_code == 200
                    if not ok:
                        errors.append(f"{r.status_code} {path}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__} {path}")
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return latencies, len(errors), elapsed, errors[:5]


def request_paths(
    arcs: list[int], hours: int, n: int, last: str | None, model: str | None = None
) -> list[str]:
    """The ``/predict`` paths of the run (cycling over arcs and target hours)."""
    extra = f"&model={model}" if model else ""
    if hours <= 0 or last is None:
        return [f"/predict?arc_id={arcs[i % len(arcs)]}{extra}" for i in range(n)]
    import pandas as pd

    end = pd.Timestamp(last).floor("h")
    times = [(end - pd.Timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ") for h in range(hours)]
    return [
        f"/predict?arc_id={arcs[i % len(arcs)]}&at={times[(i // len(arcs)) % len(times)]}{extra}"
        for i in range(n)
    ]


def measure(
    url: str,
    *,
    requests: int,
    concurrency: int,
    arcs: list[int],
    hours: int,
    model: str | None = None,
) -> dict[str, Any]:
    """Fire the requests and summarise (requests/s, latency percentiles in ms)."""
    _loopback_only(url)
    last = None
    if hours > 0:
        with httpx.Client(base_url=url, trust_env=False, timeout=30) as c:
            params: dict[str, Any] = {"arc_id": arcs[0]}
            if model:
                params["model"] = model
            r = c.get("/predict", params=params)
            r.raise_for_status()
            last = r.json()["data_time"]
    paths = request_paths(arcs, hours, requests, last, model)
    with httpx.Client(base_url=url, trust_env=False, timeout=30) as c:  # warm-up: one per arc
        for path in paths[: len(arcs)]:
            c.get(path)
    latencies, n_errors, elapsed, samples = asyncio.run(_run(url, paths, concurrency))
    ms = np.asarray(latencies) * 1000.0
    return {
        "url": url,
        "requests": requests,
        "concurrency": concurrency,
        "distinct_hours": hours,
        "model": model,
        "arcs": arcs,
        "errors": n_errors,
        "error_samples": samples,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(requests / elapsed, 1),
        "latency_ms": {
            "p50": round(float(np.percentile(ms, 50)), 2),
            "p90": round(float(np.percentile(ms, 90)), 2),
            "p99": round(float(np.percentile(ms, 99)), 2),
            "max": round(float(ms.max()), 2),
        },
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(data_dir: Path, model: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "INFOTRAFIC_DATA_DIR": str(data_dir),
        "INFOTRAFIC_MLFLOW_ENABLED": "false",
        "INFOTRAFIC_BASE_URL": "http://127.0.0.1:9",
    }
    cmd = [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", "examples/api"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, trust_env=False, timeout=30) as c:
        for _ in range(300):
            try:
                if c.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            proc.terminate()
            sys.exit("server did not start")
        job = c.post("/training", json={"model": model, "backtest_days": 0}).json()
        while True:
            status = c.get(f"/jobs/{job['job_id']}").json()
            if status["status"] == "failed":
                proc.terminate()
                sys.exit(f"training failed: {status['error']}")
            if status["status"] == "succeeded":
                break
            time.sleep(0.3)
    return proc, url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="Running server (loopback), with a trained model.")
    where.add_argument("--start", action="store_true", help="Start a server and train a model.")
    parser.add_argument("--model", default="gbm", help="Model trained with --start (gbm).")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--arcs", default="4264,5672,191")
    parser.add_argument("--hours", type=int, default=0, help="Distinct target hours (0: next).")
    parser.add_argument("--predict-model", help="Ask this model's forecasts (default: latest).")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1 or args.requests > 100_000:
        parser.error("--requests in [1, 100000] and --concurrency >= 1")
    arcs = [int(a) for a in args.arcs.split(",")]

    proc = None
    url = args.url
    with tempfile.TemporaryDirectory() as tmp:
        if args.start:
            proc, url = _start_server(Path(tmp) / "data", args.model)
        try:
            figures = measure(
                url,
                requests=args.requests,
                concurrency=args.concurrency,
                arcs=arcs,
                hours=args.hours,
                model=args.predict_model,
            )
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=15)
    lat = figures["latency_ms"]
    print(
        f"GET /predict x{figures['requests']} (concurrency {figures['concurrency']}, "
        f"{figures['distinct_hours']} distinct hours): {figures['requests_per_second']} "
        f"requests/s, p50 {lat['p50']} ms, p90 {lat['p90']} ms, p99 {lat['p99']} ms, "
        f"max {lat['max']} ms, errors {figures['errors']}"
    )
    for sample in figures["error_samples"]:
        print("  error:", sample)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 1 if figures["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
