"""Selective reads of a large store: one arc over one month, one day of every arc.

Usage::

    python benchmarks/store_read.py --arcs 3000 --years 3 --store /tmp/store_3000x3
    python benchmarks/store_read.py --arcs 50 --years 1 --store /tmp/store_small   # smoke run

The store is built once (kept in ``--store`` and reused when it exists) from a SYNTHETIC panel
(:func:`_synthetic.synthetic_panel`, the benchmarks' one generator, month by month so that
memory stays modest), through :meth:`ParquetStore.ingest`, i.e. in the store's real layout.
The reads run in a fresh child process: each query is timed over several arcs or days (the
median and the worst are printed); the child's peak RSS (``ru_maxrss``) is reported, with how
much of it came after the imports, as is the size of what each read returns. The same query
through ``pyarrow.dataset`` directly is shown for comparison. Targets (issue 15): one arc over
one month <= 1 s, one day of every arc <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def build(store_dir: Path, n_arcs: int, years: int, first_year: int = 2021) -> None:
    """Write the SYNTHETIC store month by month (skipped when it already holds data)."""
    from _synthetic import SYNTHETIC_LABEL, load_real_panel, synthetic_panel

    from infotrafic.etl import ParquetStore

    store = ParquetStore(store_dir)
    if store.partitions():
        print(f"reusing {store_dir} ({len(store.partitions())} partitions)")
        return
    real = load_real_panel()[0]
    months = pd.date_range(f"{first_year}-01-01", periods=12 * years + 1, freq="MS")
    t0 = time.perf_counter()
    for i, (lo, hi) in enumerate(zip(months[:-1], months[1:], strict=True)):
        panel = synthetic_panel(n_arcs, start=str(lo), end=str(hi), real_panel=real, seed=i)
        store.ingest(panel)
        print(f"\r{SYNTHETIC_LABEL}: month {i + 1}/{12 * years}", end="", flush=True)
    print(f"\nbuilt {store_dir} in {time.perf_counter() - t0:.0f} s")


def _timed(fn: object, runs: list[object]) -> tuple[list[float], int]:
    times, rows = [], 0
    for arg in runs:
        t0 = time.perf_counter()
        out = fn(arg)  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
        rows = len(out)
    return times, rows


def child(store_dir: Path) -> None:
    import pyarrow as pa
    import pyarrow.dataset as pads

    from infotrafic.etl import ParquetStore

    store = ParquetStore(store_dir)
    parts = store.partitions()
    arcs = sorted(store.latest_time())
    months = [pd.Timestamp(p.stem + "-01", tz="UTC") for p in parts]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    picks = [arcs[i * (len(arcs) - 1) // 4] for i in range(5)]
    month = months[len(months) // 2]
    next_month = month + pd.offsets.MonthBegin(1)
    days = [month + pd.Timedelta(days=d) for d in (0, 7, 14, 21, 27)]
    results = {}
    results["one arc x one month"] = _timed(
        lambda a: store.read(arcs=[a], start=month, end=next_month), picks
    )
    results["one day x every arc"] = _timed(
        lambda d: store.read(start=d, end=d + pd.Timedelta(days=1)), days
    )
    results["one arc x one month, flow only"] = _timed(
        lambda a: store.read(arcs=[a], start=month, end=next_month, columns=["flow"]), picks
    )
    dataset = pads.dataset(str(store_dir), format="parquet")  # the same files, read directly
    ts = pa.timestamp("ns", "UTC")
    results["pyarrow.dataset: one arc x one month"] = _timed(
        lambda a: dataset.to_table(
            filter=(pads.field("arc_id") == a)
            & (pads.field("time") >= pa.scalar(month, ts))
            & (pads.field("time") < pa.scalar(next_month, ts))
        ),
        picks,
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "queries": {k: {"seconds": v[0], "rows": v[1]} for k, v in results.items()},
                "peak_extra_mb": (peak - before) / 1024,
                "peak_mb": peak / 1024,
                "arcs": len(arcs),
                "partitions": len(parts),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arcs", type=int, default=3000, help="synthetic arcs")
    parser.add_argument("--years", type=int, default=3, help="years of hourly data")
    parser.add_argument(
        "--store",
        type=Path,
        default=Path(tempfile.gettempdir()) / "infotrafic-bench" / "store_read",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.store)
        return
    build(args.store, args.arcs, args.years)
    size = sum(p.stat().st_size for p in args.store.rglob("*.parquet")) / 1e6
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--store", str(args.store)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    res = json.loads(out.strip().splitlines()[-1])
    print(
        f"\nstore {args.store}: {res['arcs']} arcs, {res['partitions']} month partitions, "
        f"{size:.0f} MB (SYNTHETIC)\n"
    )
    header = f"{'query':<40}{'median s':>10}{'worst s':>10}{'rows':>10}"
    print(header)
    print("-" * len(header))
    for name, q in res["queries"].items():
        sec = q["seconds"]
        print(f"{name:<40}{statistics.median(sec):>10.3f}{max(sec):>10.3f}{q['rows']:>10}")
    print(
        f"\npeak RSS of the reading process: {res['peak_mb']:.0f} MB "
        f"({res['peak_extra_mb']:.0f} MB above its RSS after the imports, before the first read)"
    )
    print("targets: one arc x one month <= 1 s, one day x every arc <= 2 s")


if __name__ == "__main__":
    main()
