"""Backtest on a Dask cluster vs locally, on a SYNTHETIC store: time, memory, growth, equality.

The panel is **synthetic** (:func:`_synthetic.synthetic_panel`: the hour-of-week profiles of
the real Paris arcs in ``tests/data/paris``, scaled, noised, with realistic missingness),
written to a :class:`~infotrafic.etl.ParquetStore`; it measures time and memory only, never
accuracy.

For every size (arcs x years), two runs of the same backtest, each in its own fresh
subprocess: ``gbm`` (its defaults unless ``--gbm-params``), refit every ``--refit`` (monthly by
default) over the last ``--score-days`` of the data, at ``--horizon`` hours:

* ``local``: ``backtest(store, ..., n_jobs=--n-jobs)`` (default 2); peak RSS of the process
  and its joblib workers, sampled every 20 ms;
* ``dask``: ``backtest(store, ..., scheduler="local:N")`` on a ``LocalCluster`` of
  ``--workers`` single-threaded worker processes (default 2), each shard reading its own data
  from the store; peak memory **per worker** (the scheduler's per-worker memory metric,
  sampled every 0.5 s), of the client process alone (``dask_client_peak_rss_gb``: the
  cluster's workers are its child processes, left out) and of the client with them
  (``dask_total_peak_rss_gb``).

Then the predictions of both are compared (max absolute difference of ``y_pred``; naive models
are exact, ``gbm`` is expected equal to float precision) and the cost per refit block is
derived (``dask`` compute seconds / (blocks x horizons)): the input of the full-archive
estimate in ``docs/dask.rst``.

The sizes: every ``--arcs`` at ``--base-years`` years, and every ``--years`` at
``--base-arcs`` arcs (at least 3 of each for the growth table). The issue's headline is
3,000 arcs x 3 years.

Run::

    python benchmarks/dask_backtest.py --quick                       # tiny smoke run
    python benchmarks/dask_backtest.py --json /work/runs/dask_backtest.json   # full sizes
    python benchmarks/dask_backtest.py --arcs 300 1000 3000 --years 1 2 3 --base-arcs 3000 \\
        --base-years 3

Timing figures are only meaningful on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import PeakRSS
from _synthetic import SYNTHETIC_LABEL, load_real_panel, synthetic_panel

END = "2023-11-01"


def _store_dir(workdir: Path, arcs: int, years: float) -> Path:
    return workdir / f"store_{arcs}x{years:g}y"


# --------------------------------------------------------------------------- children
def step_build(args: argparse.Namespace) -> dict[str, Any]:
    """Write the synthetic panel of one size to a store."""
    from infotrafic.etl import ParquetStore

    t0 = time.perf_counter()
    real, _ = load_real_panel()
    start = str((pd.Timestamp(END) - pd.Timedelta(days=round(365 * args.size_years))).date())
    panel = synthetic_panel(args.size_arcs, start=start, end=END, real_panel=real, seed=7)
    ParquetStore(_store_dir(args.workdir, args.size_arcs, args.size_years)).ingest(panel)
    return {"rows": len(panel), "build_seconds": time.perf_counter() - t0}


def _config(args: argparse.Namespace) -> Any:
    from infotrafic.backtest import BacktestConfig

    end = pd.Timestamp(END, tz="UTC")
    start = end - pd.Timedelta(days=args.score_days)
    return BacktestConfig.create(
        start=start, end=end, refit=args.refit, horizon=args.horizon, n_jobs=args.n_jobs
    )


def _models(args: argparse.Namespace) -> dict[str, Any]:
    from infotrafic.forecasters import make_forecaster

    return {"gbm": make_forecaster("gbm", **json.loads(args.gbm_params))}


class _OwnRSS(PeakRSS):
    """Peak RSS of this process alone: a ``LocalCluster``'s workers are its children, and
    :class:`PeakRSS` would add them to the client's figure."""

    def rss(self) -> int:
        """Current RSS of this process (children excluded), in bytes."""
        return int(self._proc.memory_info().rss)


class _WorkerMemory:
    """Peak memory of each Dask worker (the scheduler's metric), sampled every 0.5 s."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for addr, info in self.client.scheduler_info()["workers"].items():
            mem = int(info.get("metrics", {}).get("memory", 0))
            self.peak[addr] = max(self.peak.get(addr, 0), mem)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def __enter__(self) -> _WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def step_run(args: argparse.Namespace) -> dict[str, Any]:
    """One backtest (``--mode local`` or ``dask``); predictions written for the comparison."""
    from infotrafic._dask import dask_client
    from infotrafic.backtest import backtest
    from infotrafic.etl import ParquetStore

    store = ParquetStore(_store_dir(args.workdir, args.size_arcs, args.size_years))
    cfg = _config(args)
    out: dict[str, Any] = {"mode": args.mode, "blocks": len(cfg.cutoffs())}
    with PeakRSS() as rss, _OwnRSS() as own:
        t0 = time.perf_counter()
        if args.mode == "local":
            res = backtest(store, _models(args), cfg)
        else:
            with dask_client(f"local:{args.workers}") as client:
                ready = time.perf_counter()
                with _WorkerMemory(client) as mem:
                    res = backtest(store, _models(args), cfg, scheduler=client)
                out["cluster_start_seconds"] = ready - t0
                peaks = sorted(mem.peak.values())
                out["worker_peak_gb"] = [p / 2**30 for p in peaks]
        out["seconds"] = time.perf_counter() - t0
    out["process_peak_rss_gb"] = rss.peak / 2**30  # with its children (joblib/Dask workers)
    out["own_peak_rss_gb"] = own.peak / 2**30  # dask: the client alone
    out["compute_seconds"] = sum(res.timings.values())
    out["mae"] = float(res.report.comparison["mae"].iloc[0])
    res.write_predictions(args.workdir / f"pred_{args.mode}.parquet")
    return out


STEPS = {"build": step_build, "run": step_run}


# --------------------------------------------------------------------------- parent
def _spawn(args: argparse.Namespace, step: str, arcs: int, years: float, mode: str = "") -> Any:
    cmd = [
        sys.executable, __file__, "--step", step, "--workdir", str(args.workdir),
        "--size-arcs", str(arcs), "--size-years", str(years), "--mode", mode or "local",
        "--refit", args.refit, "--score-days", str(args.score_days),
        "--horizon", str(args.horizon), "--n-jobs", str(args.n_jobs),
        "--workers", str(args.workers), "--gbm-params", args.gbm_params,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{step} {arcs}x{years} {mode} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _build(args: argparse.Namespace, arcs: int, years: float) -> dict[str, Any]:
    store = _store_dir(args.workdir, arcs, years)
    if args.keep_stores and (store / "_built.json").exists():  # built by an earlier run
        built: dict[str, Any] = json.loads((store / "_built.json").read_text())
        return built
    built = _spawn(args, "build", arcs, years)
    (store / "_built.json").write_text(json.dumps(built))
    return built


def _one_size(args: argparse.Namespace, arcs: int, years: float) -> dict[str, Any]:
    store = _store_dir(args.workdir, arcs, years)
    built = _build(args, arcs, years)
    local = _spawn(args, "run", arcs, years, "local")
    dask = _spawn(args, "run", arcs, years, "dask")
    a = pd.read_parquet(args.workdir / "pred_local.parquet")
    b = pd.read_parquet(args.workdir / "pred_dask.parquet")
    same_rows = a[["arc_id", "time", "horizon"]].equals(b[["arc_id", "time", "horizon"]])
    diff = np.abs(a["y_pred"].to_numpy("float64") - b["y_pred"].to_numpy("float64"))
    if not args.keep_stores:
        shutil.rmtree(store, ignore_errors=True)
    per_block = dask["compute_seconds"] / max(1, dask["blocks"])
    return {
        "arcs": arcs,
        "years": years,
        "rows": built["rows"],
        "blocks": dask["blocks"],
        "local_seconds": local["seconds"],
        "local_peak_rss_gb": local["process_peak_rss_gb"],
        "dask_seconds": dask["seconds"],
        "dask_cluster_start_seconds": dask["cluster_start_seconds"],
        "dask_worker_peak_gb": dask["worker_peak_gb"],
        "dask_client_peak_rss_gb": dask["own_peak_rss_gb"],
        "dask_total_peak_rss_gb": dask["process_peak_rss_gb"],
        "seconds_per_block": per_block,
        "same_rows": bool(same_rows),
        "max_abs_diff": float(np.nanmax(diff)) if len(diff) else 0.0,
        "nan_mismatch": int((np.isnan(diff) & ~(a["y_pred"].isna() & b["y_pred"].isna())).sum()),
    }


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| arcs | years | rows | blocks | local 2 jobs (s) | local peak (GB) "
        "| dask 2 workers (s, with cluster start) "
        "| peak per worker (GB) | client (GB) | s / block | max abs diff |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        workers = " / ".join(f"{g:.2f}" for g in r["dask_worker_peak_gb"])
        lines.append(
            f"| {r['arcs']:,} | {r['years']:g} | {r['rows']:,} | {r['blocks']} "
            f"| {r['local_seconds']:.1f} | {r['local_peak_rss_gb']:.2f} | {r['dask_seconds']:.1f} "
            f"| {workers} | {r['dask_client_peak_rss_gb']:.2f} | {r['seconds_per_block']:.2f} "
            f"| {r['max_abs_diff']:.2g} |"
        )
    return "\n".join(lines)


def main() -> int:
    """Run the benchmark (parent) or one of its steps (child)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="Tiny sizes: a smoke run.")
    p.add_argument("--arcs", type=int, nargs="+", default=[300, 1000, 3000])
    p.add_argument("--years", type=float, nargs="+", default=[1, 2, 3])
    p.add_argument("--base-arcs", type=int, default=3000, help="Arcs of the years sweep.")
    p.add_argument("--base-years", type=float, default=3, help="Years of the arcs sweep.")
    p.add_argument("--refit", default="30D", help="Refit cadence (monthly by default).")
    p.add_argument("--score-days", type=int, default=365, help="Scored window, last N days.")
    p.add_argument("--horizon", type=int, default=1)
    p.add_argument("--n-jobs", type=int, default=2, help="Jobs of the local run.")
    p.add_argument("--workers", type=int, default=2, help="Dask worker processes.")
    p.add_argument("--gbm-params", default="{}", help="JSON hyper-parameters of gbm.")
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None, help="Write the results here.")
    p.add_argument(
        "--keep-stores",
        action="store_true",
        help="Keep each size's store in --workdir and reuse it on the next run (building is "
        "not timed; this only saves the wait).",
    )
    p.add_argument(
        "--build-only", action="store_true", help="Only build the stores (implies --keep-stores)."
    )
    p.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=["local", "dask"], default="local", help=argparse.SUPPRESS)
    p.add_argument("--size-arcs", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--size-years", type=float, default=0.0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.step:
        print(json.dumps(STEPS[args.step](args)))
        return 0
    if args.quick:
        args.arcs, args.years, args.base_arcs, args.base_years = [4, 6, 8], [0.3, 0.4, 0.5], 4, 0.5
        args.refit, args.score_days = "14D", 28
        args.gbm_params = json.dumps({"max_iter": 10})
    own = args.workdir is None
    args.workdir = Path(tempfile.mkdtemp(prefix="dask_backtest_")) if own else args.workdir
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = [(a, args.base_years) for a in args.arcs]
    sizes += [(args.base_arcs, y) for y in args.years if (args.base_arcs, y) not in sizes]
    rows = []
    if args.build_only:
        args.keep_stores = True
        for arcs, years in sizes:
            print(json.dumps(_build(args, arcs, years)))
        return 0
    try:
        for arcs, years in sizes:
            rows.append(_one_size(args, arcs, years))
            print(json.dumps(rows[-1]), file=sys.stderr)
    finally:
        if own:
            shutil.rmtree(args.workdir, ignore_errors=True)
    print(SYNTHETIC_LABEL)
    print(
        f"gbm {args.gbm_params}, refit {args.refit}, last {args.score_days} days scored, "
        f"horizon {args.horizon} h; local n_jobs={args.n_jobs} vs {args.workers} Dask workers"
    )
    print(_table(rows))
    if args.json:
        args.json.write_text(json.dumps({"label": SYNTHETIC_LABEL, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
