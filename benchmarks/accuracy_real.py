"""The judged accuracy run on REAL data: 1 h ahead, weekly refit, Nov 2022 -> Nov 2023.

Reads every file of ``tests/data/paris/archive`` and ``tests/data/paris/exports`` (real Paris loop
counts, Ville de Paris, ODbL), trains on the data before 2022-11-01 (Paris time) and scores
every target hour from 2022-11-01 to 2023-11-30 inclusive (``--end 2023-12-01``) with a weekly
expanding-window refit. Models: naive, seasonal_naive (168 h), historical_average, gbm.

All models are compared on the SAME rows: the arc-hours with an observed flow that every model
predicted (for the baselines: where the previous hour and the same hour last week exist). The
reference run scored 26,872 arc-hours; persistence 67.2, seasonal naive 168 h 79.2, a quick GBM
38.1 (MAE, vehicles/hour). Targets: gbm <= 0.45 x seasonal_naive and <= 0.55 x naive.

Usage::

    python benchmarks/accuracy_real.py --out bench_out/accuracy
    python benchmarks/accuracy_real.py --data tests/data/paris --n-jobs 2 --param gbm.max_iter=600
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _data import DEFAULT_DATA

from infotrafic.backtest import BacktestConfig, backtest, format_table
from infotrafic.cli._options import parse_params
from infotrafic.etl import read_files
from infotrafic.forecasters import make_forecaster

MODELS = ("naive", "seasonal_naive", "historical_average", "gbm")
TARGETS = {"seasonal_naive": 0.45, "naive": 0.55}
REFERENCE = {"n": 26_872, "naive": 67.2, "seasonal_naive": 79.2, "gbm": 38.1}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="real data folder")
    ap.add_argument("--out", type=Path, default=Path("bench_out/accuracy_real"))
    ap.add_argument("--start", default="2022-11-01")
    ap.add_argument("--end", default="2023-12-01")
    ap.add_argument("--refit", default="7D")
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--model", action="append", dest="models", help="default: the four models")
    ap.add_argument("--param", action="append", default=[], help="MODEL.KEY=VALUE")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    models = tuple(args.models or MODELS)

    files = sorted((args.data / "archive").glob("*.csv*")) + sorted(
        (args.data / "exports").glob("*.csv*")
    )
    if not files:
        print(f"no data files under {args.data}/archive or /exports", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    read = read_files(files)
    panel = read.panel
    t_read = time.perf_counter() - t0
    print(
        f"REAL data: {len(files)} files, {len(panel):,} panel rows, "
        f"{panel['arc_id'].nunique()} arcs, {len(read.quarantine):,} quarantined rows "
        f"(read in {t_read:.1f}s)"
    )

    params = parse_params(args.param, models)
    forecasters = {name: make_forecaster(name, **params[name]) for name in models}
    cfg = BacktestConfig.create(
        start=args.start,
        end=args.end,
        horizon=1,
        refit=args.refit,
        n_jobs=args.n_jobs,
        progress=args.progress,
    )
    t1 = time.perf_counter()
    result = backtest(panel, forecasters, cfg)
    t_bt = time.perf_counter() - t1
    report = result.report

    print()
    print(report.to_text(per_arc=True))
    print()
    print("Per-arc tables (common rows):")
    for name in report.comparison.index:
        table = report.per_arc.loc[name].copy()
        print(f"\n[{name}]")
        print(format_table(table, index_name="arc_id"))
    print()
    print(
        f"Scored arc-hours (common to all models): {report.n_common:,} "
        f"(reference run: {REFERENCE['n']:,})"
    )
    comp = report.comparison
    if "gbm" in comp.index:
        for ref, limit in TARGETS.items():
            if ref in comp.index:
                ratio = float(comp.loc["gbm", "mae"] / comp.loc[ref, "mae"])
                verdict = "PASS" if ratio <= limit else "FAIL"
                print(f"gbm / {ref}: {ratio:.3f} (target <= {limit}) {verdict}")
    this_run = ", ".join(f"{m} {mae:.1f}" for m, mae in comp["mae"].items())
    print(f"reference MAE: naive 67.2, seasonal_naive 79.2, quick GBM 38.1 | this run: {this_run}")
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    print(f"time: read {t_read:.1f}s, backtest {t_bt:.1f}s ({timing})")

    args.out.mkdir(parents=True, exist_ok=True)
    report.write_json(args.out / "accuracy_real.json")
    report.write_html(args.out / "accuracy_real.html", title="infotrafic accuracy (real data)")
    result.write_predictions(args.out / "predictions.parquet")
    print(f"wrote {args.out}/accuracy_real.json, accuracy_real.html, predictions.parquet")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
