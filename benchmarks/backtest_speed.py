"""Backtest speed, side by side in one run: infotrafic vs Darts vs mlforecast on REAL data.

Data: the real Paris files of ``tests/data/paris`` (archive + exports) read with
``infotrafic.etl.read_files``; history from ``--history-start`` (default 2021-11-01), scoring
every hour of ``[--start, --end)`` (default 2022-11-01 -> 2023-12-01, UTC end-of-hour), 1 h ahead.

Benchmark 1 — seasonal naive (season 168 h), all 4 real arcs, raw data (missing hours stay NaN):

* ``infotrafic``: ``backtest(panel, {"seasonal_naive": SeasonalNaiveForecaster()}, ...)``;
* ``darts``: ``NaiveSeasonal(K=168).historical_forecasts(series, start=..., forecast_horizon=1,
  stride=1, retrain=True, last_points_only=True)`` on one ``TimeSeries`` per arc (the local
  model is refitted at every origin, as Darts requires for local models).

Both are scored on the same target hours (observed truth and prediction); the MAEs must be
IDENTICAL (checked to 1e-9).

Benchmark 2 — the same LightGBM model on lags 1, 2, 3, 24, 168 h, global over the 3 arcs that
cover the whole period (4264, 5672, 191), expanding window, refitted every 168 h (weekly) at the
same cutoffs, identical LightGBM parameters on every side (objective l1, n_estimators,
learning_rate, num_leaves, min_child_samples, reg_lambda, seed, deterministic, force_col_wise)
and the same training rows (Darts and mlforecast drop the rows with a missing lag, the first
week of each arc; infotrafic's ``dropna=True`` does the same).
Darts and LightGBM cannot train on missing targets, so missing hours of the history are
filled beforehand, identically for every tool (value one week earlier, then linear
interpolation); only really observed hours are scored.

* ``infotrafic``: ``backtest(panel, {"gbm": GBMForecaster(features=FeatureSpec((Lags("flow",
  lags=(1, 2, 3, 24, 168)),)), backend="lightgbm", normalize=False, target_forms="ratio",
  dropna=True, ...)},
  refit="7D")``;
* ``darts``: ``LightGBMModel(lags=[-1, -2, -3, -24, -168]).historical_forecasts(series,
  forecast_horizon=1, stride=1, retrain=168, apply_globally=True)`` (``apply_globally`` makes the
  refit global over all arcs, like the others; without it Darts trains one model per series);
* ``mlforecast``: ``MLForecast(models=LGBMRegressor(...), lags=[1, 2, 3, 24, 168],
  freq="h").cross_validation(df, n_windows=<hours scored>, h=1, step_size=1, refit=168)``: one
  window per target hour (true 1 h-ahead forecasts from the real lags, not a recursive 168 h
  path), the models refitted every 168 windows.

CPU cores (``--cores``, default ``1 2``: one gbm table each). With 1 core every side runs
LightGBM on one thread and infotrafic refits sequentially. With N cores every tool gets the N
cores its own way: Darts and mlforecast give LightGBM N threads (they have no parallel refits),
infotrafic runs N refit blocks at once (``backtest(..., n_jobs=N)``) with one LightGBM thread
each. The model and its parameters are the same; only who uses the cores differs.

Every side runs in its own subprocess (fresh interpreter; imports and reading the prepared input
file are excluded from the time (with ``--warmup``, also a first untimed run of the same
code on two days); converting to the tool's own data structure is included), timed
with ``time.perf_counter``; peak RSS is the subprocess' RSS sampled every 20 ms (psutil). Run::

    python benchmarks/backtest_speed.py --warmup   # full year, all sides, 1 and 2 cores
    python benchmarks/backtest_speed.py --quick    # one month of scoring, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import PeakRSS
from _synthetic import load_real_panel

LAGS = (1, 2, 3, 24, 168)
GBM_ARCS = (191, 4264, 5672)
H = pd.Timedelta(hours=1)


def lgbm_params(n_jobs: int, n_estimators: int) -> dict[str, object]:
    """The LightGBM parameters every side uses (infotrafic's gbm sets the same ones)."""
    return {
        "objective": "l1",
        "n_estimators": n_estimators,
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_child_samples": 20,
        "reg_lambda": 0.0,
        "random_state": 0,
        "n_jobs": n_jobs,
        "deterministic": True,
        "force_col_wise": True,
        "verbosity": -1,
    }


# --------------------------------------------------------------------------- data preparation
def _fill(values: np.ndarray) -> np.ndarray:
    out = values.copy()
    for _ in range(4):  # value one week earlier, up to 4 weeks back
        miss = np.isnan(out)
        miss[:168] = False
        out[miss] = np.roll(out, 168)[miss]
    s = pd.Series(out).interpolate(limit_direction="both")
    return s.to_numpy()


def prepare(workdir: Path, history_start: str, start: str, end: str) -> dict[str, object]:
    panel, reader = load_real_panel()
    h0, t1 = pd.Timestamp(history_start, tz="UTC"), pd.Timestamp(end, tz="UTC")
    raw = panel[(panel["time"] >= h0) & (panel["time"] < t1)].reset_index(drop=True)
    raw.to_parquet(workdir / "raw.parquet")
    times = pd.date_range(h0, t1, freq="h", inclusive="left")
    frames = []
    for arc in GBM_ARCS:
        s = raw[raw["arc_id"] == arc].set_index("time")["flow"].reindex(times)
        frames.append(
            pd.DataFrame(
                {
                    "arc_id": arc,
                    "time": times,
                    "flow": _fill(s.to_numpy(dtype="float64")),
                    "observed": s.notna().to_numpy(),
                }
            )
        )
    filled = pd.concat(frames, ignore_index=True)
    filled.to_parquet(workdir / "filled.parquet")
    return {
        "reader": reader,
        "raw_rows": len(raw),
        "raw_arcs": sorted(int(a) for a in raw["arc_id"].unique()),
        "filled_rows": len(filled),
        "filled_share": float(1 - filled["observed"].mean()),
    }


# --------------------------------------------------------------------------- the sides
def _utc(day: str) -> pd.Timestamp:
    """A UTC instant (infotrafic reads naive strings as Paris wall-clock time)."""
    return pd.Timestamp(day, tz="UTC")


def _naive_utc(t: pd.Series) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(t).tz_convert("UTC").tz_localize(None)


def _darts_series(frame: pd.DataFrame) -> dict[int, object]:
    from darts import TimeSeries

    out = {}
    for arc, g in frame.groupby("arc_id"):
        idx = _naive_utc(g["time"])
        grid = pd.date_range(idx[0], idx[-1], freq="h")
        vals = pd.Series(g["flow"].to_numpy(), index=idx).reindex(grid).to_numpy()
        out[int(arc)] = TimeSeries.from_times_and_values(grid, vals[:, None])
    return out


def _darts_frame(arcs: list[int], forecasts: list[object]) -> pd.DataFrame:
    frames = []
    for arc, f in zip(arcs, forecasts, strict=True):
        frames.append(
            pd.DataFrame(
                {
                    "arc_id": arc,
                    "time": pd.DatetimeIndex(f.time_index).tz_localize("UTC"),  # type: ignore[attr-defined]
                    "y_pred": f.values()[:, 0],  # type: ignore[attr-defined]
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def side_infotrafic_snaive(args: argparse.Namespace) -> pd.DataFrame:
    from infotrafic.backtest import backtest
    from infotrafic.forecasters import SeasonalNaiveForecaster

    panel = pd.read_parquet(args.workdir / "raw.parquet")
    t0 = time.perf_counter()
    res = backtest(
        panel,
        {"seasonal_naive": SeasonalNaiveForecaster(season=168)},
        start=_utc(args.start),
        end=_utc(args.end),
        horizon=1,
        refit="7D",
    )
    args.elapsed = time.perf_counter() - t0
    return res.predictions[["arc_id", "time", "y_pred"]]


def side_darts_snaive(args: argparse.Namespace) -> pd.DataFrame:
    from darts.models import NaiveSeasonal

    panel = pd.read_parquet(args.workdir / "raw.parquet")
    t0 = time.perf_counter()
    series = _darts_series(panel)
    start = pd.Timestamp(args.start)
    keep = [a for a, s in series.items() if s.end_time() >= start]
    forecasts = NaiveSeasonal(K=168).historical_forecasts(
        [series[a] for a in keep],
        start=start,
        forecast_horizon=1,
        stride=1,
        retrain=True,
        last_points_only=True,
        show_warnings=False,
    )
    args.elapsed = time.perf_counter() - t0
    out = _darts_frame(keep, forecasts)
    return out[out["time"] < pd.Timestamp(args.end, tz="UTC")]


def side_infotrafic_gbm(args: argparse.Namespace) -> pd.DataFrame:
    from infotrafic.backtest import backtest
    from infotrafic.features import FeatureSpec, Lags
    from infotrafic.forecasters import GBMForecaster

    # infotrafic spends its cores on refits in parallel (one LightGBM thread each)
    p = lgbm_params(1, args.n_estimators)
    panel = pd.read_parquet(args.workdir / "filled.parquet").drop(columns="observed")
    t0 = time.perf_counter()
    model = GBMForecaster(
        features=FeatureSpec((Lags("flow", lags=LAGS),)),
        backend="lightgbm",
        normalize=False,
        target_forms="ratio",  # learn the flow itself, as the other sides do
        max_iter=p["n_estimators"],
        learning_rate=p["learning_rate"],
        max_leaf_nodes=p["num_leaves"],
        min_samples_leaf=p["min_child_samples"],
        l2_regularization=p["reg_lambda"],
        subsample=1.0,  # LightGBM's defaults, as on the other sides: no bagging,
        colsample=1.0,  # every feature in every tree
        dropna=True,  # learn from complete rows only, as Darts and mlforecast do
        max_train_rows=None,
        random_state=p["random_state"],
        n_jobs=p["n_jobs"],
    )
    res = backtest(
        panel,
        {"gbm": model},
        start=_utc(args.start),
        end=_utc(args.end),
        horizon=1,
        refit="7D",
        n_jobs=args.cores,
    )
    args.elapsed = time.perf_counter() - t0
    return res.predictions[["arc_id", "time", "y_pred"]]


def side_darts_gbm(args: argparse.Namespace) -> pd.DataFrame:
    from darts.models import LightGBMModel

    panel = pd.read_parquet(args.workdir / "filled.parquet")
    t0 = time.perf_counter()
    series = _darts_series(panel)
    arcs = sorted(series)
    model = LightGBMModel(
        lags=[-k for k in LAGS],
        output_chunk_length=1,
        **lgbm_params(args.cores, args.n_estimators),
    )
    forecasts = model.historical_forecasts(
        [series[a] for a in arcs],
        start=pd.Timestamp(args.start),
        forecast_horizon=1,
        stride=1,
        retrain=168,
        apply_globally=True,
        last_points_only=True,
        show_warnings=False,
    )
    args.elapsed = time.perf_counter() - t0
    return _darts_frame(arcs, forecasts)


def side_mlforecast_gbm(args: argparse.Namespace) -> pd.DataFrame:
    from lightgbm import LGBMRegressor
    from mlforecast import MLForecast

    panel = pd.read_parquet(args.workdir / "filled.parquet")
    t0 = time.perf_counter()
    df = pd.DataFrame(
        {"unique_id": panel["arc_id"], "ds": _naive_utc(panel["time"]), "y": panel["flow"]}
    )
    n_windows = int((pd.Timestamp(args.end) - pd.Timestamp(args.start)) / H)
    df = df[df["ds"] < pd.Timestamp(args.end)]
    mlf = MLForecast(
        models={"lgbm": LGBMRegressor(**lgbm_params(args.cores, args.n_estimators))},
        freq="h",
        lags=list(LAGS),
    )
    cv = mlf.cross_validation(df, n_windows=n_windows, h=1, step_size=1, refit=168)
    args.elapsed = time.perf_counter() - t0
    return pd.DataFrame(
        {
            "arc_id": cv["unique_id"].astype("int64"),
            "time": pd.DatetimeIndex(cv["ds"]).tz_localize("UTC"),
            "y_pred": cv["lgbm"].to_numpy(dtype="float64"),
        }
    )


SIDES = {
    "infotrafic_snaive": side_infotrafic_snaive,
    "darts_snaive": side_darts_snaive,
    "infotrafic_gbm": side_infotrafic_gbm,
    "darts_gbm": side_darts_gbm,
    "mlforecast_gbm": side_mlforecast_gbm,
}


def run_side(args: argparse.Namespace) -> None:
    """Child process: run one side, write predictions and timings."""
    with PeakRSS() as rss:
        if args.warmup:  # same code path on two days, untimed: lazy imports, caches
            warm = argparse.Namespace(**vars(args))
            warm.end = str((pd.Timestamp(args.start) + pd.Timedelta(days=2)).date())
            SIDES[args.side](warm)
        preds = SIDES[args.side](args)
    preds.to_parquet(args.workdir / f"{args.side}.parquet")
    (args.workdir / f"{args.side}.json").write_text(
        json.dumps({"seconds": args.elapsed, "peak_rss_mb": rss.peak / 2**20})
    )


# --------------------------------------------------------------------------- the parent
def _spawn(side: str, args: argparse.Namespace) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--side",
        side,
        "--workdir",
        str(args.workdir),
        "--start",
        args.start,
        "--end",
        args.end,
        "--cores",
        str(args.cores),
        "--n-estimators",
        str(args.n_estimators),
        *(["--warmup"] if args.warmup else []),
    ]
    print(f"  running {side} ...", flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return json.loads((args.workdir / f"{side}.json").read_text())  # type: ignore[no-any-return]


def _scored(pred: pd.DataFrame, truth: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    t0, t1 = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
    pred = pred[(pred["time"] >= t0) & (pred["time"] < t1)]
    out = pred.merge(truth, on=["arc_id", "time"], how="inner")
    return out[np.isfinite(out["y_pred"]) & np.isfinite(out["y_true"])]


def _table(rows: list[dict[str, object]]) -> str:
    head = f"{'benchmark':<20}{'tool':<12}{'seconds':>10}{'MAE':>12}{'rows':>8}{'peak RSS MB':>13}"
    head += f"{'speed-up':>10}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['bench']:<20}{r['tool']:<12}{r['seconds']:>10.2f}{r['mae']:>12.6f}"
            f"{r['rows']:>8}{r['rss']:>13.0f}{r['ratio']:>10}"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", choices=sorted(SIDES))
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--history-start", default="2021-11-01")
    ap.add_argument("--start", default="2022-11-01")
    ap.add_argument("--end", default="2023-12-01")
    ap.add_argument("--quick", action="store_true", help="score one month only (smoke test)")
    ap.add_argument(
        "--cores",
        type=int,
        nargs="+",
        default=[1, 2],
        help="CPU cores each tool may use; one gbm table per value (default: 1 and 2)",
    )
    ap.add_argument("--n-estimators", type=int, default=100)
    ap.add_argument(
        "--warmup", action="store_true", help="run each side once on 2 days first, untimed"
    )
    ap.add_argument("--only", choices=["naive", "gbm"], help="run one benchmark only")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    if args.side:
        args.cores = args.cores[0]
        run_side(args)
        return 0
    if args.quick:
        args.end = str((pd.Timestamp(args.start) + pd.Timedelta(days=30)).date())
    with tempfile.TemporaryDirectory(prefix="infotrafic-bench-") as tmp:
        args.workdir = Path(tmp)
        info = prepare(args.workdir, args.history_start, args.start, args.end)
        print(
            f"real data via {info['reader']}: {info['raw_rows']} rows, arcs {info['raw_arcs']}; "
            f"history from {args.history_start}, scoring [{args.start}, {args.end}) UTC, 1 h ahead"
        )
        raw = pd.read_parquet(args.workdir / "raw.parquet")
        truth_raw = raw[["arc_id", "time", "flow"]].rename(columns={"flow": "y_true"})
        filled = pd.read_parquet(args.workdir / "filled.parquet")
        truth_obs = filled.loc[filled["observed"], ["arc_id", "time", "flow"]].rename(
            columns={"flow": "y_true"}
        )
        rows: list[dict[str, object]] = []
        checks: list[str] = []
        cores = list(args.cores)
        benches = [
            ("seasonal naive", ["infotrafic_snaive", "darts_snaive"], truth_raw, "naive", 1),
        ]
        benches += [
            (
                f"lightgbm, {c} core{'s' if c > 1 else ''}",
                ["infotrafic_gbm", "darts_gbm", "mlforecast_gbm"],
                truth_obs,
                "gbm",
                c,
            )
            for c in cores
        ]
        for bench, sides, truth, key, n_cores in benches:
            if args.only and args.only != key:
                continue
            args.cores = n_cores
            stats = {s: _spawn(s, args) for s in sides}
            scored = {
                s: _scored(
                    pd.read_parquet(args.workdir / f"{s}.parquet"), truth, args.start, args.end
                )
                for s in sides
            }
            # the same target set for every tool
            keys = None
            for s in sides:
                k = pd.MultiIndex.from_frame(scored[s][["arc_id", "time"]])
                keys = k if keys is None else keys.intersection(k)
            ours = stats[sides[0]]["seconds"]
            maes = {}
            for s in sides:
                d = scored[s].set_index(["arc_id", "time"]).loc[keys]
                maes[s] = float(np.mean(np.abs(d["y_pred"] - d["y_true"])))
                rows.append(
                    {
                        "bench": bench,
                        "tool": s.split("_")[0],
                        "seconds": stats[s]["seconds"],
                        "mae": maes[s],
                        "rows": len(d),
                        "rss": stats[s]["peak_rss_mb"],
                        "ratio": "1.0x" if s == sides[0] else f"{stats[s]['seconds'] / ours:.1f}x",
                        "n_scored_own": len(scored[s]),
                    }
                )
            if key == "naive":
                n0, n1 = (len(scored[s]) for s in sides)
                same = abs(maes[sides[0]] - maes[sides[1]]) <= 1e-9 and n0 == n1 == len(keys)
                checks.append(
                    f"seasonal naive MAE identical (|diff| = "
                    f"{abs(maes[sides[0]] - maes[sides[1]]):.2e}, {n0} vs {n1} targets): "
                    f"{'OK' if same else 'FAILED'}"
                )
            else:
                for s in sides[1:]:
                    rel = abs(maes[sides[0]] - maes[s]) / maes[s]
                    checks.append(
                        f"{bench}: MAE within 2 % of {s.split('_')[0]}: {rel:.2%} "
                        f"{'OK' if rel <= 0.02 else 'FAILED'}"
                    )
        print()
        print(_table(rows))
        print("speed-up = tool seconds / infotrafic seconds (higher: infotrafic faster)")
        for c in checks:
            print(c)
        if args.json:
            args.json.write_text(
                json.dumps({"info": info, "rows": rows, "checks": checks}, indent=2, default=str)
            )
        return 0 if all(c.endswith("OK") for c in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
