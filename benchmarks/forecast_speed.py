"""Train and forecast speed on a SYNTHETIC panel: ``train`` 1 year x 24 horizons, ``forecast``.

The panel is **synthetic** (built by :func:`_synthetic.synthetic_panel` from the hour-of-week
profiles of the real Paris arcs in ``tests/data/paris``, scaled, noised, with realistic
missingness); it measures time and memory only, never accuracy.

Steps, each in its own fresh subprocess (wall time with ``time.perf_counter``, reading the
prepared parquet input excluded; peak RSS of the subprocess and its children sampled every
20 ms):

1. ``build``: the synthetic panel of ``--arcs`` arcs over one year (``--history-days``, default
   365, ending 2023-11-01 UTC), written to the work directory, with the last 8 weeks aside as
   the forecast input (a forecast reads the recent weeks, not the year).
2. ``train``: ``train(panel, "gbm", horizons=1..H, levels=(80, 95), n_jobs=--n-jobs)`` — the
   default ``gbm`` on flow and occupancy (traffic state), each series and horizon fitted once
   on the data before the last 28 days and calibrated on them, as ``train`` does by default
   (``--refit-final``: fitted a second time on everything, as ``train(refit_final=True)``);
   then ``ForecastModel.save(dir)`` (timed apart). Target: <= 30 min and
   <= 8 GB at 3,000 arcs x 24 horizons on a 2-core machine.
3. ``forecast``: ``load_model(dir)`` (timed apart), then ``forecast(model, recent)`` for every
   arc x horizon at the last hour of the data, twice in the same process (the first call is the
   headline: what one ``infotrafic forecast`` invocation pays). Target: <= 10 s and <= 2 GB at
   3,000 arcs x 24 horizons.
4. The same ``train`` (untimed headline) and ``forecast`` with ``seasonal_naive``: the floor of
   the forecast path (no features beyond one lag, no boosting).

Run::

    python benchmarks/forecast_speed.py --quick                 # 100 arcs, 3 horizons (smoke)
    python benchmarks/forecast_speed.py --json /work/runs/forecast_speed.json   # 3,000 x 24
    python benchmarks/forecast_speed.py --arcs 1000 --profile /tmp/forecast.prof
    python benchmarks/forecast_speed.py --workdir DIR --skip-train   # forecast again
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import PeakRSS
from _synthetic import SYNTHETIC_LABEL, load_real_panel, synthetic_panel

END = "2023-11-01"
#: Weeks of recent data given to ``forecast`` (the default gbm reads about 5 weeks).
RECENT_WEEKS = 8
TARGETS = {"train_seconds": 30 * 60, "train_rss_gb": 8.0, "forecast_seconds": 10.0}
TARGETS["forecast_rss_gb"] = 2.0
MODELS = ("gbm", "seasonal_naive")


def _horizons(values: list[int]) -> list[int]:
    """``[H]`` means 1..H; several values are the horizons themselves."""
    return list(range(1, values[0] + 1)) if len(values) == 1 else sorted(set(values))


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# --------------------------------------------------------------------------- children
def step_build(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    real, _ = load_real_panel()
    start = str((pd.Timestamp(END) - pd.Timedelta(days=args.history_days)).date())
    panel = synthetic_panel(args.arcs, start=start, end=END, real_panel=real, seed=args.arcs)
    panel.to_parquet(args.workdir / "panel.parquet")
    last = panel["time"].max()
    recent = panel[panel["time"] > last - pd.Timedelta(weeks=RECENT_WEEKS)]
    recent.to_parquet(args.workdir / "recent.parquet")
    info = {
        "arcs": args.arcs,
        "history_days": args.history_days,
        "panel_rows": len(panel),
        "recent_rows": len(recent),
        "history_start": start,
        "last_hour_utc": last.isoformat(),
        "build_seconds": time.perf_counter() - t0,
    }
    (args.workdir / "build.json").write_text(json.dumps(info))
    return info


def step_train(args: argparse.Namespace) -> dict[str, Any]:
    from infotrafic.forecasting import train

    panel = pd.read_parquet(args.workdir / "panel.parquet")
    params = json.loads(args.gbm_params) if args.model == "gbm" else {}
    out = args.workdir / f"model_{args.model}"
    with PeakRSS() as rss:
        base = rss.rss()
        t0 = time.perf_counter()
        model = train(
            panel,
            args.model,
            horizons=_horizons(args.horizons),
            levels=(80, 95),
            params=params or None,
            refit_final=args.refit_final,
            n_jobs=args.n_jobs,
        )
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.save(out)
        save_seconds = time.perf_counter() - t0
    return {
        "model": args.model,
        "params": params,
        "refit_final": args.refit_final,
        "train_seconds": seconds,
        "save_seconds": save_seconds,
        "peak_rss_gb": rss.peak / 2**30,
        "rss_after_panel_gb": base / 2**30,
        "targets": list(model.targets),
        "forecasters": len(model.forecasters),
        "calibration_scores": len(model.scores),
        "model_dir_mb": _dir_size(out) / 2**20,
    }


def step_forecast(args: argparse.Namespace) -> dict[str, Any]:
    from infotrafic.forecasting import forecast, load_model

    recent = pd.read_parquet(args.workdir / "recent.parquet")
    where = args.workdir / f"model_{args.model}"
    with PeakRSS() as rss:
        base = rss.rss()
        t0 = time.perf_counter()
        model = load_model(where)
        load_seconds = time.perf_counter() - t0
        rss_loaded = rss.rss()
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        t0 = time.perf_counter()
        out = forecast(model, recent)
        first = time.perf_counter() - t0
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        t0 = time.perf_counter()
        forecast(model, recent)
        second = time.perf_counter() - t0
    hours = model.history_hours
    span = (recent["time"].max() - recent["time"].min()) / pd.Timedelta(hours=1)
    return {
        "model": args.model,
        "load_seconds": load_seconds,
        "forecast_seconds": first,
        "forecast_again_seconds": second,
        "peak_rss_gb": rss.peak / 2**30,
        "rss_after_data_gb": base / 2**30,
        "rss_after_load_gb": rss_loaded / 2**30,
        "rows": len(out),
        "stale_rows": int(out["stale"].sum()),
        "flow_missing": int(out["flow"].isna().sum()),
        "history_hours": hours,
        "input_hours": span,
        "input_covers_history": hours is None or span >= hours,
        "profiled": bool(args.profile),
    }


STEPS = {"build": step_build, "train": step_train, "forecast": step_forecast}


# --------------------------------------------------------------------------- parent
def _spawn(step: str, args: argparse.Namespace, model: str = "gbm") -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--step",
        step,
        "--model",
        model,
        "--workdir",
        str(args.workdir),
        "--arcs",
        str(args.arcs),
        "--history-days",
        str(args.history_days),
        "--n-jobs",
        str(args.n_jobs),
        "--gbm-params",
        args.gbm_params,
        "--refit-final" if args.refit_final else "--no-refit-final",
        "--horizons",
        *map(str, args.horizons),
    ]
    if args.profile and step == "forecast" and model == "gbm":
        cmd += ["--profile", str(args.profile)]
    print(f"  {step} {model if step != 'build' else ''} ...", flush=True)
    proc = subprocess.run(
        cmd,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{step} {model} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _ratio(value: float, target: float) -> str:
    return f"{value / target:.2f}x"


def _table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    n_h = len(args.horizon_list)
    head = f"{'step':<40}{'seconds':>10}{'target':>9}{'ratio':>8}{'peak RSS GB':>13}"
    head += f"{'target':>8}{'ratio':>8}"
    lines = [head, "-" * len(head)]

    def row(name: str, s: float, s_t: float | None, gb: float | None, gb_t: float | None) -> None:
        lines.append(
            f"{name:<40}{s:>10.2f}"
            + (f"{s_t:>9.0f}{_ratio(s, s_t):>8}" if s_t else f"{'':>17}")
            + (f"{gb:>13.2f}" if gb is not None else f"{'':>13}")
            + (f"{gb_t:>8.0f}{_ratio(gb, gb_t):>8}" if gb_t and gb is not None else "")
        )

    for model in MODELS:
        t, f = results.get(f"train_{model}"), results.get(f"forecast_{model}")
        gbm = model == "gbm"
        if t:
            fits = "" if t.get("refit_final", True) else ", no final refit"
            row(
                f"train {model} ({n_h} h x {len(t['targets'])} series{fits})",
                t["train_seconds"],
                TARGETS["train_seconds"] if gbm else None,
                t["peak_rss_gb"],
                TARGETS["train_rss_gb"] if gbm else None,
            )
            row(
                f"  save model dir ({t['model_dir_mb']:.0f} MB)",
                t["save_seconds"],
                None,
                None,
                None,
            )
        if f:
            row(f"load_model {model}", f["load_seconds"], None, None, None)
            row(
                f"forecast {model} ({f['rows']:,} rows)",
                f["forecast_seconds"],
                TARGETS["forecast_seconds"] if gbm else None,
                f["peak_rss_gb"],
                TARGETS["forecast_rss_gb"] if gbm else None,
            )
            row("  forecast again (same process)", f["forecast_again_seconds"], None, None, None)
            row(
                "  load_model + forecast",
                f["load_seconds"] + f["forecast_seconds"],
                TARGETS["forecast_seconds"] if gbm else None,
                None,
                None,
            )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    ap.add_argument("--model", default="gbm", help=argparse.SUPPRESS)
    ap.add_argument("--arcs", type=int, default=3000, help="synthetic arcs (default 3,000)")
    ap.add_argument(
        "--horizons",
        type=int,
        nargs="+",
        default=[24],
        help="H (horizons 1..H, default 24) or several explicit horizons",
    )
    ap.add_argument("--history-days", type=int, default=365, help="days of history (365)")
    ap.add_argument("--n-jobs", type=int, default=2, help="train's n_jobs (series x horizons)")
    ap.add_argument(
        "--gbm-params", default="{}", help="JSON hyper-parameters of gbm (default: none)"
    )
    ap.add_argument(
        "--refit-final",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="train(refit_final=...), default False as train's: --refit-final fits twice",
    )
    ap.add_argument("--quick", action="store_true", help="100 arcs, 3 horizons (smoke run)")
    ap.add_argument("--workdir", type=Path, help="keep the panel and model directories here")
    ap.add_argument(
        "--skip-train", action="store_true", help="reuse the panel and models in --workdir"
    )
    ap.add_argument("--profile", type=Path, help="cProfile the first gbm forecast into FILE")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    if args.step:
        print(json.dumps(STEPS[args.step](args)))
        return 0
    if args.quick:
        args.arcs, args.horizons = 100, [3]
    keep = args.workdir is not None
    args.workdir = args.workdir or Path(tempfile.mkdtemp(prefix="infotrafic-forecast-speed-"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    horizons = _horizons(args.horizons)
    if args.skip_train:  # the panel and models of an earlier run: describe them, not the options
        built = json.loads((args.workdir / "build.json").read_text())
        args.arcs, args.history_days = built["arcs"], built["history_days"]
        manifest = json.loads((args.workdir / "model_gbm" / "manifest.json").read_text())
        horizons = sorted(int(h) for h in manifest["horizons"])
        args.gbm_params = json.dumps(manifest["params"])
    args.horizon_list = horizons
    print(
        f"{SYNTHETIC_LABEL}: {args.arcs:,} arcs, {args.history_days} days of history ending "
        f"{END} UTC; horizons {horizons[0]}..{horizons[-1]} ({len(horizons)}); levels 80, 95; "
        f"train n_jobs={args.n_jobs}, refit_final={args.refit_final}; gbm params "
        f"{args.gbm_params}; {os.cpu_count()} CPUs"
    )
    results: dict[str, dict[str, Any]] = {}
    try:
        if not args.skip_train:
            results["build"] = _spawn("build", args)
            b = results["build"]
            print(
                f"  SYNTHETIC panel: {b['panel_rows']:,} rows ({b['recent_rows']:,} in the last "
                f"{RECENT_WEEKS} weeks, the forecast input), built in {b['build_seconds']:.0f} s"
            )
            for model in MODELS:
                results[f"train_{model}"] = _spawn("train", args, model)
        for model in MODELS:
            results[f"forecast_{model}"] = _spawn("forecast", args, model)
    finally:
        if not keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    print()
    print(f"{SYNTHETIC_LABEL}, {args.arcs:,} arcs x {len(horizons)} horizons")
    print(_table(results, args))
    print(
        "ratio = measured / target (<= 1.00 meets it); targets are for 3,000 arcs x 24 "
        "horizons on a 2-core machine"
    )
    g = results.get("forecast_gbm", {})
    if g and not g.get("input_covers_history", True):
        print(
            f"WARNING: the forecast input spans {g['input_hours']:.0f} h, less than the "
            f"{g['history_hours']} h the model reads"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "label": SYNTHETIC_LABEL,
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "targets": TARGETS,
                    "results": results,
                },
                indent=2,
            )
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
