"""Throughput and peak memory of a large export fetched by the client into the store.

SYNTHETIC DATA: the rows are made up from the hour-of-week flow profiles of the real arcs 4264,
5672 and 191 (``tests/data/paris/exports``), scaled and noised per synthetic arc (ids 900000+);
they measure speed and memory only, never accuracy.

The loopback test server runs in its own process and serves the rows; each measured client runs
in a fresh process so that its peak RSS is its own:

* ``infotrafic``: ``OpenDataClient.fetch(..., store=ParquetStore)``: monthly slices, each
  counted, streamed to disk, verified, parsed and ingested into the parquet store;
* ``httpx``: a plain ``httpx.stream`` download of the same monthly exports to disk (no check,
  no parsing, no store): the floor any client pays for the bytes.

Run: ``python benchmarks/fetch_throughput.py --rows 2000000`` (prints a table and the ratio).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _data import DEFAULT_DATA

START, END = "2024-01-01", "2025-01-01"  # Paris local time: 8,784 hours
DATA = DEFAULT_DATA / "exports"


def synthetic_panel(rows: int, seed: int = 0) -> pd.DataFrame:
    """SYNTHETIC panel of about ``rows`` rows over 2024 built from real hour-of-week profiles."""
    from infotrafic.etl import read_files

    real = read_files(sorted(DATA.glob("arc*_2022-11_2023-12.csv.gz"))).panel
    local = real["time"].dt.tz_convert("Europe/Paris")
    real = real.assign(how=local.dt.day_of_week * 24 + local.dt.hour)
    profiles = real.groupby(["arc_id", "how"])["flow"].mean().unstack("how").ffill(axis=1)
    hours = pd.date_range(
        pd.Timestamp(START, tz="Europe/Paris"), pd.Timestamp(END, tz="Europe/Paris"),
        freq="h", inclusive="left",
    ).tz_convert("UTC")  # fmt: skip
    how = hours.tz_convert("Europe/Paris").day_of_week * 24 + hours.tz_convert("Europe/Paris").hour
    n_arcs = max(1, round(rows / len(hours)))
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_arcs):
        base = profiles.iloc[i % len(profiles)].to_numpy()[how.to_numpy()]
        flow = np.maximum(0.0, base * rng.uniform(0.5, 1.5) + rng.normal(0, 20, len(hours)))
        flow[rng.random(len(hours)) < 0.03] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "arc_id": 900_000 + i,
                    "time": hours,
                    "flow": np.round(flow),
                    "occupancy": np.round(flow / 80.0, 3),
                    "traffic_state": pd.array(np.where(flow > 600, 2, 1), dtype="Int8"),
                    "closure_state": pd.array(np.full(len(hours), 3), dtype="Int8"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def serve(rows: int) -> None:
    """Child process: serve the synthetic panel and print the URL, then wait for stdin to close."""
    from infotrafic.testing import OpenDataServer

    panel = synthetic_panel(rows)
    with OpenDataServer(panel) as server:
        print(json.dumps({"url": server.url, "rows": len(panel)}), flush=True)
        sys.stdin.read()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_client(kind: str, url: str, arcs: list[int], out: str) -> None:
    """Child process: one measured download; prints a JSON line."""
    from infotrafic.etl import ParquetStore
    from infotrafic.opendata import OpenDataClient, make_slices, to_utc

    baseline = _peak_mb()
    began = time.perf_counter()
    with OpenDataClient(url, timeout=600) as client:
        if kind == "infotrafic":
            summary = client.fetch(arcs, START, END, store=ParquetStore(out))
            rows, size = summary.rows, summary.bytes
        else:
            import httpx

            rows = size = 0
            with httpx.Client(timeout=600) as http:
                for sl in make_slices(arcs, to_utc(START), to_utc(END)):
                    target = Path(out) / f"{sl.key}.csv"
                    params = {
                        "select": "iu_ac, t_1h, q, k, etat_trafic, etat_barre",
                        "where": sl.where,
                        "timezone": "UTC",
                    }
                    url_ = client.export_url("csv")
                    with http.stream("GET", url_, params=params) as resp, target.open("wb") as fh:
                        resp.raise_for_status()
                        for chunk in resp.iter_bytes():
                            fh.write(chunk)
                            rows += chunk.count(b"\n")
                    rows -= 1  # header line
                    size += target.stat().st_size
    seconds = time.perf_counter() - began
    print(
        json.dumps(
            {
                "kind": kind,
                "rows": rows,
                "bytes": size,
                "seconds": seconds,
                "peak_mb": _peak_mb(),
                "baseline_mb": baseline,
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="synthetic rows to serve")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=["infotrafic", "httpx"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--arcs", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.rows)
        return
    if args.client:
        run_client(args.client, args.url, json.loads(args.arcs), args.out)
        return

    me = [sys.executable, __file__]
    print(f"SYNTHETIC data: ~{args.rows:,} rows from real arcs' hour-of-week profiles (2024)")
    server = subprocess.Popen(
        [*me, "--serve", "--rows", str(args.rows)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout is not None and server.stdin is not None
    info = json.loads(server.stdout.readline())
    n_arcs = max(1, round(args.rows / 8784))
    arcs = json.dumps([900_000 + i for i in range(n_arcs)])
    results = {}
    try:
        for kind in ("httpx", "infotrafic"):
            with tempfile.TemporaryDirectory() as out:
                line = subprocess.run(
                    [*me, "--client", kind, "--url", info["url"], "--arcs", arcs, "--out", out],
                    capture_output=True, text=True, check=True,
                ).stdout.strip().splitlines()[-1]  # fmt: skip
            results[kind] = json.loads(line)
    finally:
        server.stdin.close()
        server.wait(timeout=60)
    print(f"served rows: {info['rows']:,}  (12 monthly CSV export slices)")
    print(f"{'client':<12}{'rows':>12}{'MB':>9}{'seconds':>10}{'rows/s':>12}{'peak MB':>10}")
    for kind, r in results.items():
        print(
            f"{kind:<12}{r['rows']:>12,}{r['bytes'] / 1e6:>9.1f}{r['seconds']:>10.1f}"
            f"{r['rows'] / r['seconds']:>12,.0f}{r['peak_mb']:>10.0f}"
        )
    a, b = results["infotrafic"], results["httpx"]
    print(
        f"ratio infotrafic/httpx: time x{a['seconds'] / b['seconds']:.2f}, "
        f"peak memory x{a['peak_mb'] / b['peak_mb']:.2f} "
        "(infotrafic also counts, verifies, parses and ingests every slice)"
    )


if __name__ == "__main__":
    main()
