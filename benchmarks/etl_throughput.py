"""ETL throughput and peak memory on the real Paris files, next to a plain pandas.read_csv.

Usage::

    python benchmarks/etl_throughput.py [--data tests/data/paris] [--repeat 3] [--quality]

Every measured side runs in its own fresh Python subprocess, so start-up imports are excluded
from the timings (they are measured from inside the child) and the peak RSS (``ru_maxrss``)
belongs to that side alone. Each side runs twice per repeat: once untraced (wall time, peak RSS)
and once under ``tracemalloc`` (peak traced Python/numpy allocations), because tracing slows
the work down. The best wall time over the repeats is reported.

Sides:

* ``pandas``: ``pandas.read_csv`` of every file with its separator (detected from the header),
  nothing else -- the floor of "just parsing the CSV".
* ``read_files``: ``infotrafic.etl.read_files`` -- regime detection, parsing, UTC times, DST
  policy, codes, quarantine, validation and the cross-file dedupe.
* ``read+ingest``: ``read_files`` then ``ParquetStore.ingest`` into a fresh store (month
  partitions, zstd).
* ``ingest_files``: ``ParquetStore.ingest_files`` (what ``infotrafic etl`` runs: hashing, raw
  copies, per-batch merge, manifest).

``cpu s`` is the CPU time of the side (user + system of the process), which a busy machine
distorts less than wall time. Throughput is MB/s of *uncompressed* CSV (the files are gzip;
the decompressed size is used).
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from _data import DEFAULT_DATA

FOLDERS = ("archive", "exports", "multi-arc")
SIDES = ("pandas", "read_files", "read+ingest", "ingest_files")


def data_files(data: Path) -> list[Path]:
    files: list[Path] = []
    for folder in FOLDERS:
        files += sorted((data / folder).glob("*.csv.gz"))
    return files


def _sep(path: Path) -> str:
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        header = fh.readline()
    return ";" if header.count(";") > header.count(",") else ","


def _work(side: str, files: list[Path]) -> int:
    """Do one side's work; return the number of rows produced."""
    if side == "pandas":
        import pandas as pd

        rows = 0
        for f in files:
            rows += len(pd.read_csv(f, sep=_sep(f), low_memory=False))
        return rows
    from infotrafic.etl import ParquetStore, read_files

    if side == "read_files":
        return len(read_files(files).panel)
    with tempfile.TemporaryDirectory() as tmp:
        store = ParquetStore(Path(tmp) / "store")
        if side == "read+ingest":
            result = read_files(files)
            store.ingest(result)
        else:
            store.ingest_files(files)
        return len(store.read())


def child(side: str, files: list[Path], trace: bool) -> None:
    # Import the heavy modules before the clock starts (start-up is not ETL work).
    import pandas  # noqa: F401

    if side != "pandas":
        import infotrafic.etl  # noqa: F401
    if trace:
        tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    rows = _work(side, files)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {"seconds": seconds, "cpu": cpu, "rows": rows, "traced_peak": peak}
    print(json.dumps({**result, "maxrss_kb": maxrss_kb}))


def run_side(side: str, files: list[Path], trace: bool) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", side, *(["--trace"] if trace else [])]
    cmd += [str(f) for f in files]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="real data folder")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side (best time kept)")
    parser.add_argument("--quality", action="store_true", help="also print the quality table")
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.files, args.trace)
        return

    files = data_files(args.data)
    if not files:
        raise SystemExit(f"no *.csv.gz under {args.data}/{{{','.join(FOLDERS)}}}")
    gz_mb = sum(f.stat().st_size for f in files) / 1e6
    raw_mb = 0.0
    for f in files:
        with gzip.open(f, "rb") as fh:
            raw_mb += len(fh.read()) / 1e6
    print(
        f"{len(files)} files from {', '.join(FOLDERS)}: {gz_mb:.1f} MB gzip, "
        f"{raw_mb:.1f} MB uncompressed CSV; best of {args.repeat} runs, each side in its own "
        "subprocess\n"
    )
    results: dict[str, dict[str, float]] = {}
    for side in SIDES:
        timed = [run_side(side, files, trace=False) for _ in range(args.repeat)]
        traced = run_side(side, files, trace=True)
        best = min(timed, key=lambda r: r["seconds"])
        results[side] = {
            "seconds": best["seconds"],
            "cpu": min(r.get("cpu", float("nan")) for r in timed),
            "rows": best["rows"],
            "maxrss_mb": max(r["maxrss_kb"] for r in timed) / 1024,
            "traced_mb": (traced["traced_peak"] or 0) / 2**20,
        }
    base = results["pandas"]
    header = (
        f"{'side':<14}{'seconds':>9}{'cpu s':>7}{'MB/s':>8}{'rows':>10}{'peak RSS MB':>13}"
        f"{'traced MB':>11}{'time x':>8}{'RSS x':>7}"
    )
    print(header)
    print("-" * len(header))
    for side, r in results.items():
        print(
            f"{side:<14}{r['seconds']:>9.2f}{r['cpu']:>7.2f}{raw_mb / r['seconds']:>8.1f}"
            f"{int(r['rows']):>10}"
            f"{r['maxrss_mb']:>13.0f}{r['traced_mb']:>11.0f}"
            f"{r['seconds'] / base['seconds']:>8.2f}{r['maxrss_mb'] / base['maxrss_mb']:>7.2f}"
        )
    print(
        "\n(time x, RSS x: ratio to the plain pandas.read_csv side; pandas 'rows' are the raw "
        "CSV rows, the others canonical panel rows after DST policy, quarantine and dedupe)"
    )

    if args.quality:
        cli = [sys.executable, "-c", "from infotrafic.cli import main; main()", "quality"]
        for group in (("archive", "exports"), ("multi-arc",)):
            folders = [str(args.data / f) for f in group]
            print("\n$ infotrafic quality " + " ".join(folders), flush=True)
            subprocess.run([*cli, *folders], check=True)


if __name__ == "__main__":
    main()
