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

Benchmark 2 — speed at equal accuracy (the Pareto view), global over the 3 arcs that cover the
whole period (4264, 5672, 191), 1 h ahead, expanding window, scored on the same observed hours:

* ``darts 7d`` (the reference): ``LightGBMModel(lags=[-1, -2, -3, -24, -168], output_chunk_length=1,
  <LightGBM parameters>).historical_forecasts(series, forecast_horizon=1, stride=1, retrain=168,
  apply_globally=True)`` (``apply_globally`` makes each weekly refit global over all arcs);
  ``darts 28d`` the same with ``retrain=672`` (a cheaper point of Darts' own curve);
* ``mlforecast``: ``MLForecast(models=LGBMRegressor(...), lags=[1, 2, 3, 24, 168],
  freq="h").cross_validation(df, n_windows=<hours scored>, h=1, step_size=1, refit=168)`` (one
  window per target hour: true 1 h-ahead forecasts from the observed lags);
* infotrafic settings (``SETTINGS``): ``lags_7d`` is Darts' model (same lags, same LightGBM
  parameters, same filled input, same weekly cutoffs: only the implementation differs);
  ``default_7d`` / ``default_28d`` are :class:`~infotrafic.forecasters.GBMForecaster` with its
  defaults (its own features: calendar, holidays, lags, same hour of past weeks, rolling
  statistics; three target forms) refitted weekly / every 28 days, learning from the raw series
  with its gaps; ``light_28d`` the same features with one target form and 63 histogram bins
  (a third of the boosters, each round cheaper), every 28 days; ``fast_28d`` / ``fast_91d``
  that with 40 rounds at learning rate 0.3 instead of 135 at 0.2, every 28 / 91 days.

LightGBM parameters of the Darts and mlforecast sides (and of ``lags_7d``): objective l1,
n_estimators, learning_rate, num_leaves, min_child_samples, reg_lambda, seed, deterministic,
force_col_wise. Darts and LightGBM cannot train on missing targets, so missing hours of the
history are filled beforehand for them (value one week earlier, then linear interpolation); only
really observed hours are scored. The verdict: the fastest infotrafic setting whose MAE is
<= Darts' (weekly) MAE, and its wall time as a fraction of Darts' (target <= 1/5); ``--plot``
draws MAE against wall time for every point.

CPU cores (``--cores``, default ``2``: one table each). Darts and mlforecast give LightGBM the
N threads (they have no parallel refits); infotrafic runs N refit blocks at once
(``backtest(..., n_jobs=N)``) with one LightGBM thread each.

Every side runs in its own subprocess (fresh interpreter; imports and reading the prepared input
file are excluded from the time (with ``--warmup``, also a first untimed run of the same
code on two days); converting to the tool's own data structure is included), timed
with ``time.perf_counter``; peak RSS is the subprocess' RSS sampled every 20 ms (psutil). Run::

    python benchmarks/backtest_speed.py --warmup --plot pareto.png  # full year, 2 cores
    python benchmarks/backtest_speed.py --quick --no-mlforecast     # one month: a smoke test
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


#: A cheaper gbm: one target form, 63 histogram bins, 40 rounds at a higher learning rate.
_FAST: dict[str, object] = {
    "target_forms": "log",
    "max_bins": 63,
    "max_iter": 40,
    "learning_rate": 0.3,
}

#: infotrafic's points of the Pareto view: (model parameters, refit cadence). "lags" is the
#: same LightGBM model as Darts' (lags 1, 2, 3, 24, 168 only); the others are GBMForecaster with
#: its own features (calendar, holidays, lags, same hour last weeks, rolling statistics).
SETTINGS: dict[str, tuple[dict[str, object], str]] = {
    "lags_7d": ({}, "7D"),
    "default_7d": ({}, "7D"),
    "default_28d": ({}, "28D"),
    "light_28d": ({"target_forms": "log", "max_bins": 63}, "28D"),
    "fast_28d": (_FAST, "28D"),
    "fast_91d": (_FAST, "91D"),
}


def _infotrafic_model(setting: str, n_estimators: int) -> tuple[object, str]:
    from infotrafic.features import FeatureSpec, Lags
    from infotrafic.forecasters import GBMForecaster

    params, refit = SETTINGS[setting]
    if setting != "lags_7d":  # infotrafic's own features and defaults, one thread per refit
        return GBMForecaster(**params, n_jobs=1), refit  # type: ignore[arg-type]
    p = lgbm_params(1, n_estimators)
    model = GBMForecaster(
        features=FeatureSpec((Lags("flow", lags=LAGS),)),
        backend="lightgbm",
        normalize=False,
        target_forms="ratio",  # learn the flow itself, as the other sides do
        max_iter=p["n_estimators"],  # type: ignore[arg-type]
        learning_rate=p["learning_rate"],  # type: ignore[arg-type]
        max_leaf_nodes=p["num_leaves"],  # type: ignore[arg-type]
        min_samples_leaf=p["min_child_samples"],  # type: ignore[arg-type]
        l2_regularization=p["reg_lambda"],  # type: ignore[arg-type]
        subsample=1.0,  # LightGBM's defaults, as on the other sides: no bagging,
        colsample=1.0,  # every feature in every tree
        dropna=True,  # learn from complete rows only, as Darts and mlforecast do
        max_train_rows=None,
        random_state=p["random_state"],  # type: ignore[arg-type]
        n_jobs=1,
    )
    return model, refit


def side_infotrafic_gbm(args: argparse.Namespace) -> pd.DataFrame:
    """One infotrafic setting; the same-model one learns from the filled series like Darts."""
    from infotrafic.backtest import backtest

    model, refit = _infotrafic_model(args.setting, args.n_estimators)
    source = "filled" if args.setting == "lags_7d" else "raw"  # the others handle gaps themselves
    panel = pd.read_parquet(args.workdir / f"{source}.parquet")
    panel = panel[panel["arc_id"].isin(GBM_ARCS)].drop(columns="observed", errors="ignore")
    t0 = time.perf_counter()
    res = backtest(
        panel,
        {"gbm": model},
        start=_utc(args.start),
        end=_utc(args.end),
        horizon=1,
        refit=refit,
        n_jobs=args.cores,  # infotrafic spends its cores on refits in parallel
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
        retrain=DARTS_RETRAIN[args.setting],
        apply_globally=True,
        last_points_only=True,
        show_warnings=False,
    )
    args.elapsed = time.perf_counter() - t0
    return _darts_frame(arcs, forecasts)


#: Darts' points: the judged one retrains every 168 steps (weekly); a monthly one for the view.
DARTS_RETRAIN = {"7d": 168, "28d": 672}


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
    tag = _tag(args.side, args.setting)
    preds.to_parquet(args.workdir / f"{tag}.parquet")
    (args.workdir / f"{tag}.json").write_text(
        json.dumps({"seconds": args.elapsed, "peak_rss_mb": rss.peak / 2**20})
    )


# --------------------------------------------------------------------------- the parent
def _tag(side: str, setting: str | None) -> str:
    return side if not setting else f"{side}-{setting}"


def _spawn(side: str, setting: str | None, args: argparse.Namespace) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--side",
        side,
        *(["--setting", setting] if setting else []),
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
    print(f"  running {_tag(side, setting)} ...", flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return json.loads((args.workdir / f"{_tag(side, setting)}.json").read_text())  # type: ignore[no-any-return]


def _scored(pred: pd.DataFrame, truth: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    t0, t1 = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
    pred = pred[(pred["time"] >= t0) & (pred["time"] < t1)]
    out = pred.merge(truth, on=["arc_id", "time"], how="inner")
    return out[np.isfinite(out["y_pred"]) & np.isfinite(out["y_true"])]


def _table(rows: list[dict[str, object]]) -> str:
    head = f"{'benchmark':<20}{'tool':<26}{'seconds':>9}{'MAE':>11}{'rows':>8}{'peak MB':>9}"
    head += f"{'vs darts':>10}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['bench']:<20}{r['tool']:<26}{r['seconds']:>9.2f}{r['mae']:>11.4f}"
            f"{r['rows']:>8}{r['rss']:>9.0f}{r['ratio']:>10}"
        )
    return "\n".join(lines)


def _compare(
    runs: list[tuple[str, str | None]], truth: pd.DataFrame, args: argparse.Namespace
) -> tuple[dict[str, dict[str, float]], dict[str, pd.DataFrame], pd.MultiIndex]:
    """Run each side and score all on the targets every one of them predicted."""
    stats = {_tag(s, st): _spawn(s, st, args) for s, st in runs}
    scored = {
        tag: _scored(pd.read_parquet(args.workdir / f"{tag}.parquet"), truth, args.start, args.end)
        for tag in stats
    }
    keys: pd.MultiIndex | None = None
    for frame in scored.values():
        k = pd.MultiIndex.from_frame(frame[["arc_id", "time"]])
        keys = k if keys is None else keys.intersection(k)
    assert keys is not None
    return stats, scored, keys


def _pareto_plot(points: list[dict[str, object]], path: Path, title: str) -> None:
    """MAE against wall time, one marker per tool; infotrafic's front joined by a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    colors = {"infotrafic": "tab:blue", "darts": "tab:orange", "mlforecast": "tab:green"}
    for p in points:
        tool = str(p["tool"]).split(" ")[0]
        ax.scatter(p["seconds"], p["mae"], color=colors.get(tool, "gray"), s=40, zorder=3)
        ax.annotate(
            str(p["tool"]),
            (p["seconds"], p["mae"]),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
    ours = sorted(
        (p for p in points if str(p["tool"]).startswith("infotrafic")), key=lambda p: p["seconds"]
    )
    front, best = [], float("inf")
    for p in ours:
        if p["mae"] < best:  # type: ignore[operator]
            front.append(p)
            best = p["mae"]  # type: ignore[assignment]
    ax.plot([p["seconds"] for p in front], [p["mae"] for p in front], color="tab:blue", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("wall time of the backtest (s, log scale)")
    ax.set_ylabel("MAE (vehicles/hour)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    for tool, c in colors.items():
        ax.scatter([], [], color=c, label=tool)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp)
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", choices=sorted(SIDES))
    ap.add_argument("--setting", help="infotrafic setting or Darts cadence of a --side run")
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--history-start", default="2021-11-01")
    ap.add_argument("--start", default="2022-11-01")
    ap.add_argument("--end", default="2023-12-01")
    ap.add_argument("--quick", action="store_true", help="score one month only (smoke test)")
    ap.add_argument(
        "--cores",
        type=int,
        nargs="+",
        default=[2],
        help="CPU cores each tool may use; one gbm table per value (default: 2)",
    )
    ap.add_argument("--n-estimators", type=int, default=100)
    ap.add_argument(
        "--settings",
        nargs="+",
        choices=sorted(SETTINGS),
        default=list(SETTINGS),
        help="infotrafic settings in the Pareto view (default: all)",
    )
    ap.add_argument("--no-mlforecast", action="store_true", help="skip mlforecast (slow)")
    ap.add_argument(
        "--warmup", action="store_true", help="run each side once on 2 days first, untimed"
    )
    ap.add_argument("--only", choices=["naive", "gbm"], help="run one benchmark only")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--plot", type=Path, help="write the Pareto view (PNG) here")
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
        if args.only in (None, "naive"):
            args.cores = 1
            runs: list[tuple[str, str | None]] = [
                ("infotrafic_snaive", None),
                ("darts_snaive", None),
            ]
            stats, scored, keys = _compare(runs, truth_raw, args)
            maes = {}
            for tag, frame in scored.items():
                d = frame.set_index(["arc_id", "time"]).loc[keys]
                maes[tag] = float(np.mean(np.abs(d["y_pred"] - d["y_true"])))
            ours = stats["infotrafic_snaive"]["seconds"]
            for tag in stats:
                rows.append(
                    {
                        "bench": "seasonal naive",
                        "tool": tag.split("_")[0],
                        "seconds": stats[tag]["seconds"],
                        "mae": maes[tag],
                        "rows": len(keys),
                        "rss": stats[tag]["peak_rss_mb"],
                        "ratio": f"{stats['darts_snaive']['seconds'] / stats[tag]['seconds']:.1f}x",
                    }
                )
            n0, n1 = (len(f) for f in scored.values())
            diff = abs(maes["infotrafic_snaive"] - maes["darts_snaive"])
            speed = stats["darts_snaive"]["seconds"] / ours
            checks.append(
                f"seasonal naive MAE identical (|diff| = {diff:.2e}, {n0} vs {n1} targets): "
                f"{'OK' if diff <= 1e-9 and n0 == n1 == len(keys) else 'FAILED'}"
            )
            checks.append(
                f"seasonal naive >= 100x Darts: {speed:.0f}x {'OK' if speed >= 100 else 'FAILED'}"
            )
        for n_cores in cores if args.only in (None, "gbm") else []:
            args.cores = n_cores
            bench = f"gbm, {n_cores} core{'s' if n_cores > 1 else ''}"
            runs = [("darts_gbm", c) for c in DARTS_RETRAIN]
            runs += [] if args.no_mlforecast else [("mlforecast_gbm", None)]
            runs += [("infotrafic_gbm", st) for st in args.settings]
            stats, scored, keys = _compare(runs, truth_obs, args)
            darts = stats["darts_gbm-7d"]["seconds"]
            points = []
            for tag, frame in scored.items():
                d = frame.set_index(["arc_id", "time"]).loc[keys]
                tool = tag.replace("_gbm-", " ").replace("_gbm", "")
                row = {
                    "bench": bench,
                    "tool": tool,
                    "seconds": stats[tag]["seconds"],
                    "mae": float(np.mean(np.abs(d["y_pred"] - d["y_true"]))),
                    "rows": len(d),
                    "rss": stats[tag]["peak_rss_mb"],
                    "ratio": f"{darts / stats[tag]['seconds']:.1f}x",
                }
                rows.append(row)
                points.append(row)
            ref = next(p for p in points if p["tool"] == "darts 7d")
            ok = [
                p
                for p in points
                if str(p["tool"]).startswith("infotrafic") and p["mae"] <= ref["mae"]  # type: ignore[operator]
            ]
            best = min(ok, key=lambda p: p["seconds"]) if ok else None  # type: ignore[arg-type, return-value]
            if best is None:
                checks.append(f"{bench}: no infotrafic setting reaches Darts' MAE: FAILED")
            else:
                ratio = darts / best["seconds"]  # type: ignore[operator]
                checks.append(
                    f"{bench}: {best['tool']} reaches MAE {best['mae']:.2f} <= Darts' "
                    f"{ref['mae']:.2f} in {best['seconds']:.1f} s = 1/{ratio:.1f} of Darts' "
                    f"{darts:.1f} s (target 1/5): {'OK' if ratio >= 5 else 'FAILED'}"
                )
            if args.plot:
                path = args.plot
                _pareto_plot(
                    points,
                    path.with_name(f"{path.stem}-{n_cores}core{path.suffix}"),
                    f"REAL data, arcs {list(GBM_ARCS)}, 1 h ahead, scoring "
                    f"[{args.start}, {args.end}), {n_cores} core(s)",
                )
        print()
        print(_table(rows))
        print("vs darts = Darts (weekly retrain) seconds / this row's seconds")
        for c in checks:
            print(c)
        if args.json:
            args.json.write_text(
                json.dumps({"info": info, "rows": rows, "checks": checks}, indent=2, default=str)
            )
        return 0 if all(c.endswith("OK") for c in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
