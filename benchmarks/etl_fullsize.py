"""Full-size ETL: ``infotrafic etl`` of a yearly archive ZIP next to a plain ``pandas.read_csv``.

Usage::

    python benchmarks/make_archive.py --arcs 3000 --out /tmp/archives     # ~27 M rows, SYNTHETIC
    python benchmarks/etl_fullsize.py /tmp/archives/SYNTHETIC_opendata_txt_2023_3000arcs.zip

or let it write the archive first (``--arcs N``, into ``--work``). Each side runs in its own
fresh Python subprocess (start-up imports done before the clock starts); the peak RSS is that
child's ``ru_maxrss``, the CPU time its user + system time (all threads). Sides:

* ``etl``: ``infotrafic etl ZIP --out STORE`` (the command's code path, in-process in the child):
  streaming read member by member and chunk by chunk, DST, dedupe, validation, quarantine,
  parquet store with raw copy and manifest.
* ``pandas``: ``pandas.read_csv`` (default C engine, default options but the separator) of
  every member of the same ZIP, nothing else -- the floor of "just parsing the CSV".
* ``pandas_tuned``: the same read after the glibc ``malloc`` setting the ETL makes for itself
  (:func:`infotrafic.etl._stream.keep_large_buffers`: chunk-sized buffers reused instead of
  unmapped), so that the ratio does not come from the allocator alone.

The archive is SYNTHETIC (see ``make_archive.py``); the figures measure the ETL, not the data.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path


def _sep(zf: zipfile.ZipFile, member: zipfile.ZipInfo) -> str:
    with zf.open(member) as fh:
        header = fh.readline().decode("utf-8", "replace")
    return ";" if header.count(";") > header.count(",") else ","


def _work(side: str, archive: Path, store_dir: Path) -> int:
    if side in ("pandas", "pandas_tuned"):
        import pandas as pd

        rows = 0
        with zipfile.ZipFile(archive) as zf:
            for member in zf.infolist():
                with zf.open(member) as fh:
                    rows += len(pd.read_csv(fh, sep=_sep(zf, member)))
        return rows
    from click.testing import CliRunner

    from infotrafic.cli import main

    res = CliRunner().invoke(
        main,
        ["etl", str(archive), "--out", str(store_dir), "--no-progress"],
        catch_exceptions=False,
    )
    if res.exit_code:
        raise SystemExit(res.output)
    from infotrafic.etl import ParquetStore

    records = ParquetStore(store_dir).file_records()
    return int(sum(r["report"].get("rows_read", 0) for r in records))


def child(side: str, archive: Path) -> None:
    import pandas  # noqa: F401  (start-up imports are not ETL work)

    if side == "etl":
        import infotrafic.cli
        import infotrafic.etl  # noqa: F401
    if side == "pandas_tuned":  # the ETL's own allocator setting (see the module doc)
        from infotrafic.etl._stream import keep_large_buffers

        keep_large_buffers()
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        rows = _work(side, archive, Path(tmp) / "store")
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rows": rows, "peak_mb": peak_mb}))


def run_side(side: str, archive: Path) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", side, str(archive)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", nargs="?", type=Path, help="a yearly archive ZIP")
    parser.add_argument("--arcs", type=int, default=3000, help="arcs of the archive to write")
    parser.add_argument("--year", type=int, default=2023)
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "infotrafic-bench", help="folder"
    )
    parser.add_argument(
        "--child", choices=("etl", "pandas", "pandas_tuned"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.archive)
        return
    archive = args.archive
    if archive is None:
        sys.path.insert(0, str(Path(__file__).parent))
        from make_archive import make_archive

        archive = make_archive(args.work, n_arcs=args.arcs, year=args.year)
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        text_mb = sum(m.file_size for m in members) / 1e6
    print(
        f"{archive.name}: {len(members)} members, {archive.stat().st_size / 1e6:.1f} MB zipped, "
        f"{text_mb:.1f} MB of text; each side in its own subprocess\n"
    )
    results = {side: run_side(side, archive) for side in ("pandas", "etl", "pandas_tuned")}
    base = results["pandas"]
    header = f"{'side':<8}{'rows':>12}{'wall s':>9}{'cpu s':>9}{'peak RSS MB':>13}"
    header += f"{'wall x':>8}{'cpu x':>7}{'RSS x':>7}"
    print(header)
    print("-" * len(header))
    for side, r in results.items():
        print(
            f"{side:<8}{int(r['rows']):>12}{r['seconds']:>9.2f}{r['cpu']:>9.2f}"
            f"{r['peak_mb']:>13.0f}{r['seconds'] / base['seconds']:>8.2f}"
            f"{r['cpu'] / base['cpu']:>7.2f}{r['peak_mb'] / base['peak_mb']:>7.2f}"
        )
    print(
        "\n(x: ratio to the plain pandas.read_csv side; targets: etl peak RSS <= 3 GB and "
        "etl cpu x <= 1; 'rows' are the CSV data rows read. pandas_tuned: the same read with "
        "the glibc malloc setting the ETL makes for itself (keep_large_buffers), for fairness)"
    )


if __name__ == "__main__":
    main()
