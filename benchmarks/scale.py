"""Scale benchmark on a SYNTHETIC panel: 1 h-ahead backtest of ``gbm`` over a full year.

The panel is **synthetic** (built by :func:`_synthetic.synthetic_panel` from the hour-of-week
profiles of the real Paris arcs in ``tests/data/paris``, scaled, noised, with realistic
missingness); it measures time and memory only, never accuracy.

For each size (default 100, 300, 1,000 and 3,000 arcs) a fresh subprocess builds the synthetic
panel (history from ``--history-start``, default 2022-08-01, so the lag and rolling features
exist), then times ``backtest(panel, {"gbm": GBMForecaster(n_jobs=<cores>)}, start=2022-11-01,
end=2023-11-01, horizon=1, refit="30D")`` — a full year scored every hour, refitted monthly
(every 30 days), expanding window — with ``time.perf_counter``. The machine's cores go to
LightGBM's threads (``--threads``, default every core) in one backtest process: a second
process (``--n-jobs 2``) would hold a second copy of the working set. Peak memory is the
subprocess' peak RSS sampled every 20 ms (whole process: panel + features + model). Run::

    python benchmarks/scale.py                      # 100, 300, 1000, 3000 arcs
    python benchmarks/scale.py --sizes 100 300      # a subset
    python benchmarks/scale.py --gbm-params '{"max_iter": 200}'
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import PeakRSS
from _synthetic import SYNTHETIC_LABEL, load_real_panel, synthetic_panel


def run_size(args: argparse.Namespace) -> dict[str, object]:
    """Child process: build the synthetic panel, time the backtest."""
    from infotrafic.backtest import backtest
    from infotrafic.forecasters import GBMForecaster

    with PeakRSS() as rss:
        t0 = time.perf_counter()
        real, _ = load_real_panel()
        panel = synthetic_panel(
            args.size, start=args.history_start, end=args.end, real_panel=real, seed=args.size
        )
        del real
        build_s = time.perf_counter() - t0
        base_rss = rss._proc.memory_info().rss
        model = GBMForecaster(**({"n_jobs": args.threads} | json.loads(args.gbm_params)))
        t0 = time.perf_counter()
        res = backtest(
            panel,
            {"gbm": model},
            start=pd.Timestamp(args.start, tz="UTC"),
            end=pd.Timestamp(args.end, tz="UTC"),
            horizon=1,
            refit=args.refit,
            n_jobs=args.n_jobs,
            progress=args.progress,
        )
        seconds = time.perf_counter() - t0
    preds = res.predictions
    return {
        "arcs": args.size,
        "panel_rows": len(panel),
        "scored": int(preds["y_pred"].notna().sum()),
        "targets": len(preds),
        "build_seconds": build_s,
        "backtest_seconds": seconds,
        "peak_rss_mb": rss.peak / 2**20,
        "rss_after_panel_mb": base_rss / 2**20,
        "mae_synthetic": float((preds["y_pred"] - preds["y_true"]).abs().mean()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000, 3000])
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)  # child mode
    ap.add_argument("--history-start", default="2022-08-01")
    ap.add_argument("--start", default="2022-11-01")
    ap.add_argument("--end", default="2023-11-01")
    ap.add_argument("--refit", default="30D")
    ap.add_argument("--n-jobs", type=int, default=1, help="backtest processes (joblib)")
    ap.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="LightGBM threads of the gbm (GBMForecaster n_jobs; default: every core)",
    )
    ap.add_argument("--gbm-params", default="{}", help="JSON keyword arguments of GBMForecaster")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument(
        "--progress", action="store_true", help="show each size's refit progress on stderr"
    )
    args = ap.parse_args()
    if args.size is not None:
        print(json.dumps(run_size(args)))
        return 0
    print(
        f"{SYNTHETIC_LABEL}; gbm {args.gbm_params}, {args.threads} LightGBM threads; "
        f"scoring [{args.start}, {args.end}) UTC, 1 h ahead, refit every {args.refit}, "
        f"expanding window; history from {args.history_start}"
    )
    head = (
        f"{'arcs':>6}{'panel rows':>12}{'scored':>11}{'backtest s':>12}{'min':>7}"
        f"{'peak RSS GB':>13}{'panel GB':>10}"
    )
    print(head)
    print("-" * len(head))
    results = []
    for size in args.sizes:
        cmd = [
            sys.executable,
            __file__,
            "--size",
            str(size),
            "--history-start",
            args.history_start,
            "--start",
            args.start,
            "--end",
            args.end,
            "--refit",
            args.refit,
            "--n-jobs",
            str(args.n_jobs),
            "--threads",
            str(args.threads),
            "--gbm-params",
            args.gbm_params,
        ] + (["--progress"] if args.progress else [])
        proc = subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=None if args.progress else subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if proc.returncode != 0:
            err = (proc.stderr or "").strip()
            print(f"{size:>6}  FAILED (exit {proc.returncode}): {err[-500:]}")
            results.append({"arcs": size, "failed": err[-2000:]})
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(r)
        print(
            f"{r['arcs']:>6}{r['panel_rows']:>12,}{r['scored']:>11,}"
            f"{r['backtest_seconds']:>12.1f}{r['backtest_seconds'] / 60:>7.1f}"
            f"{r['peak_rss_mb'] / 1024:>13.2f}{r['rss_after_panel_mb'] / 1024:>10.2f}",
            flush=True,
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "label": SYNTHETIC_LABEL,
                    "args": vars(args) | {"json": str(args.json)},
                    "results": results,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
