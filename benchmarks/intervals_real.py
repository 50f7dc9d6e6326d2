"""Prediction intervals on REAL data: infotrafic's conformal intervals vs mlforecast, Darts, MAPIE.

Data: the real Paris files of ``tests/data/paris`` (archive + exports, read with
``infotrafic.etl.read_files``). Dev split: models learn from data before 2022-11-01 (Paris
time) and every target hour of [2022-11-01, 2023-12-01) Paris time (i.e. to 2023-11-30
inclusive) is forecast 1 h and 24 h ahead with 80 % and 95 % intervals. Every tool is scored
on the SAME target hours (arc, hour, horizon): those with an observed flow that every tool of
the table forecast with both bounds. Reported per tool, horizon and level: MAE of the point
forecast, coverage (overall, and its min and max over the 24 Paris hours of the day), mean
width and mean Winkler (interval) score.

Sides, each in its own subprocess (see ``--help`` and ``benchmarks/README.md``):

* ``infotrafic``: ``backtest(panel, {"gbm": make_forecaster("gbm"), "seasonal_naive":
  make_forecaster("seasonal_naive")}, start=..., end=..., horizon=[1, 24], levels=[80, 95],
  refit="7D", n_jobs=...)`` on the raw panel (all history since 2010, missing hours stay
  missing): the library's defaults, conformal intervals on scaled errors by hour of day;
* ``infotrafic_lags``: the same library intervals around the peers' LightGBM model (lags 1, 2,
  3, 24, 168 h before the origin, identical LightGBM parameters, flow learned as is,
  ``dropna=True``), on the peers' filled input: it separates the interval method from the
  point model;
* ``mlforecast_h1`` / ``mlforecast_h24``: points from ``MLForecast(LGBMRegressor, lags=[1, 2,
  3, 24, 168]).cross_validation(df, n_windows=<hours scored>, h=..., step_size=1,
  refit=168)`` (24 h ahead: mlforecast's direct strategy for that step only,
  ``horizons=[24]``); intervals from ``fit(..., prediction_intervals=PredictionIntervals(
  n_windows=672, h=1))`` (24 h: ``n_windows=28, h=24``) at each weekly refit cutoff, i.e.
  mlforecast's per-series ``conformal_distribution`` half-widths, applied to the week as
  ``cross_validation`` does at its refit windows (its non-refit windows recalibrate with a
  frozen-model backtest of ``n_windows`` forecasts each: days of work for a year; and
  ``predict(level=...)`` fails with sparse ``horizons``);
* ``darts_h1`` / ``darts_h24``: ``ConformalNaiveModel(LightGBMModel(lags=[-1, -2, -3, -24,
  -168], output_chunk_shift=h - 1), quantiles=[0.025, 0.1, 0.5, 0.9, 0.975],
  cal_length=672).historical_forecasts(...)``: Darts' conformal models only wrap a
  pre-trained model (``retrain`` is ignored), so the LightGBM model is trained once, before
  the calibration warm-up;
* ``mapie_h1`` / ``mapie_h24``: MAPIE ``SplitConformalRegressor(prefit=True)`` on the same
  lag features, weekly: LightGBM fitted on the targets older than the last 28 days, conformalized
  on those 28 days, then predicting the next week.

The peers (mlforecast, Darts, MAPIE, ``infotrafic_lags``) read the 3 arcs that cover the whole
period (4264, 5672, 191) from 2021-11-01, with missing hours filled identically for all of
them (value one week earlier, then linear interpolation: LightGBM and Darts cannot learn from
missing targets); only really observed hours are scored. Run::

    python benchmarks/intervals_real.py --workdir /work/runs/intervals_real \
        --json /work/runs/intervals_real.json \
        --sub-window 2023-03-01 2023-06-01 --sub-tools mlforecast_h1 mlforecast_h24
    python benchmarks/intervals_real.py --quick       # one month of scoring (smoke test)
    python benchmarks/intervals_real.py --workdir DIR --reuse --tools darts_h1 darts_h24

mlforecast takes about 30-45 minutes per horizon for the whole year on a loaded 2-core
machine, hence the documented sub-window (``--sub-window``: those sides score [START, END)
Paris time only, and the infotrafic sides are scored again on that window beside them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import PeakRSS
from _synthetic import load_real_panel
from backtest_speed import GBM_ARCS, LAGS, _fill, _naive_utc, lgbm_params

LEVELS = (80, 95)
HORIZONS = (1, 24)
#: Calibration window of every tool, in hours (28 days): infotrafic's default.
CAL_HOURS = 672
H = pd.Timedelta(hours=1)
BOUNDS = [f"{side}_{lv}" for lv in LEVELS for side in ("lo", "hi")]
COLUMNS = ["tool", "arc_id", "time", "horizon", "y_pred", *BOUNDS]


def paris(day: str) -> pd.Timestamp:
    """A Paris wall-clock day as a UTC instant (the library's own time door)."""
    from infotrafic.backtest import parse_time

    return parse_time(day, name="time")


def target_lags(horizon: int) -> list[int]:
    """Lags of the peers' model relative to the target hour: LAGS before the origin."""
    return [k + horizon - 1 for k in LAGS]


# --------------------------------------------------------------------------- data preparation
def prepare(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Write ``raw.parquet`` (all arcs, all history) and ``filled.parquet`` (peers' input)."""
    panel, reader = load_real_panel()
    t1 = paris(args.end)
    raw = panel[panel["time"] < t1].reset_index(drop=True)
    raw.to_parquet(workdir / "raw.parquet")
    h0 = paris(args.history_start)
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
        "filled_arcs": list(GBM_ARCS),
        "filled_share": float(1 - filled["observed"].mean()),
    }


def _window(args: argparse.Namespace) -> tuple[pd.Timestamp, pd.Timestamp]:
    return pd.Timestamp(args.start_utc), pd.Timestamp(args.end_utc)


def _filled(args: argparse.Namespace) -> pd.DataFrame:
    return pd.read_parquet(args.workdir / "filled.parquet").drop(columns="observed")


# --------------------------------------------------------------------------- infotrafic sides
def _library_rows(preds: pd.DataFrame, prefix: str) -> pd.DataFrame:
    out = preds[["model", "arc_id", "time", "horizon", "y_pred", *BOUNDS]].copy()
    out.insert(0, "tool", prefix + " " + out.pop("model").astype(str))
    out["horizon"] = out["horizon"].astype("int64")
    return out[COLUMNS]


def side_infotrafic(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, Any]]:
    from infotrafic.backtest import backtest
    from infotrafic.forecasters import make_forecaster

    panel = pd.read_parquet(args.workdir / "raw.parquet")
    start, end = _window(args)
    t0 = time.perf_counter()
    res = backtest(
        panel,
        {"gbm": make_forecaster("gbm"), "seasonal_naive": make_forecaster("seasonal_naive")},
        start=start,
        end=end,
        horizon=list(HORIZONS),
        levels=list(LEVELS),
        refit="7D",
        n_jobs=args.n_jobs,
    )
    args.elapsed = time.perf_counter() - t0
    report = res.report.intervals.reset_index()
    notes = {
        "what": (
            'backtest(raw panel, {"gbm": make_forecaster("gbm"), "seasonal_naive": '
            'make_forecaster("seasonal_naive")}, horizon=[1, 24], levels=[80, 95], refit="7D", '
            f"n_jobs={args.n_jobs}): library defaults; ConformalIntervals (28-day window of "
            "scaled errors known at the origin, by Paris hour of day, recalibrated daily); "
            "models run on a 28-day warm-up before start to calibrate"
        ),
        "library_report": json.loads(report.to_json(orient="records")),
    }
    return _library_rows(res.predictions, "infotrafic"), notes


def side_infotrafic_lags(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, Any]]:
    from infotrafic.backtest import backtest
    from infotrafic.features import FeatureSpec, Lags
    from infotrafic.forecasters import GBMForecaster

    panel = _filled(args)
    start, end = _window(args)
    p = lgbm_params(1, args.n_estimators)
    frames = []
    t0 = time.perf_counter()
    for h in HORIZONS:  # one backtest per horizon: the lags are relative to the target
        model = GBMForecaster(
            features=FeatureSpec((Lags("flow", lags=tuple(target_lags(h))),)),
            backend="lightgbm",
            normalize=False,
            target_forms="ratio",
            max_iter=p["n_estimators"],
            learning_rate=p["learning_rate"],
            max_leaf_nodes=p["num_leaves"],
            min_samples_leaf=p["min_child_samples"],
            l2_regularization=p["reg_lambda"],
            subsample=1.0,
            colsample=1.0,
            dropna=True,
            max_train_rows=None,
            random_state=p["random_state"],
            n_jobs=1,
        )
        res = backtest(
            panel,
            {"lgbm-lags": model},
            start=start,
            end=end,
            horizon=h,
            levels=list(LEVELS),
            refit="7D",
            n_jobs=args.n_jobs,
        )
        frames.append(_library_rows(res.predictions, "infotrafic"))
    args.elapsed = time.perf_counter() - t0
    notes = {
        "what": (
            "backtest(filled 3-arc panel, {'lgbm-lags': GBMForecaster(Lags(flow, lags=LAGS + h "
            "- 1), backend='lightgbm', normalize=False, target_forms='ratio', dropna=True, "
            "max_train_rows=None, LightGBM parameters of the peers)}, horizon=h, levels=[80, "
            "95], refit='7D'): the library's intervals around the peers' point model"
        )
    }
    return pd.concat(frames, ignore_index=True), notes


# --------------------------------------------------------------------------- mlforecast
def _mlforecast_half_widths(cs_df: pd.DataFrame) -> pd.DataFrame:
    """Per-series interval half-widths from mlforecast's conformity scores of one fit.

    mlforecast's own rule (``_add_conformal_distribution_intervals``, method
    ``"conformal_distribution"``): the quantiles of the paths ``ŷ - s`` and ``ŷ + s`` over the
    absolute errors ``s`` of the series, at ``(100 - L) / 200`` and ``1 - (100 - L) / 200``.
    Applied here because mlforecast 1.1's ``predict(level=...)`` fails for a model trained with
    sparse ``horizons`` (it reshapes the scores as if every step up to h had been calibrated).
    """
    rows = []
    for uid, g in cs_df.groupby("unique_id", sort=True):
        s = g["lgbm"].to_numpy(dtype="float64")
        paths = np.concatenate([-s, s])
        row: dict[str, Any] = {"unique_id": uid}
        for lv in LEVELS:
            a = (100 - lv) / 200
            lo, hi = np.quantile(paths, [a, 1 - a])
            row[f"down_{lv}"], row[f"up_{lv}"] = -lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


def _mlforecast(args: argparse.Namespace, horizon: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    from lightgbm import LGBMRegressor
    from mlforecast import MLForecast
    from mlforecast.utils import PredictionIntervals

    panel = _filled(args)
    start, end = _window(args)
    t0 = time.perf_counter()
    df = pd.DataFrame(
        {"unique_id": panel["arc_id"], "ds": _naive_utc(panel["time"]), "y": panel["flow"]}
    )
    df = df[df["ds"] < end.tz_convert(None)]
    n_windows = int((end - start) / H)

    def model() -> Any:
        return MLForecast(
            models={"lgbm": LGBMRegressor(**lgbm_params(args.cores, args.n_estimators))},
            freq="h",
            lags=list(LAGS),
        )

    extra: dict[str, Any] = {"horizons": [horizon]} if horizon > 1 else {}
    if horizon == 1:
        intervals = PredictionIntervals(n_windows=CAL_HOURS, h=1)
    else:
        intervals = PredictionIntervals(n_windows=CAL_HOURS // 24, h=horizon)
    # point forecasts: one window per target hour, models refitted every 168 windows
    cv = model().cross_validation(
        df, n_windows=n_windows, h=horizon, step_size=1, refit=168, **extra
    )
    cv = cv[(cv["ds"] - cv["cutoff"]) == horizon * H].reset_index(drop=True)
    # intervals: at each refit, the same model fitted with prediction_intervals (mlforecast's
    # conformity scores of that fit), as cross_validation forecasts its refit windows
    first = cv["cutoff"].min()
    block = ((cv["cutoff"] - first) / H).astype("int64") // 168
    half: list[pd.DataFrame] = []
    for k in range(int(block.max()) + 1):
        cutoff = first + k * 168 * H
        m = model().fit(df[df["ds"] <= cutoff], prediction_intervals=intervals, **extra)
        part = _mlforecast_half_widths(m._cs_df)
        part["block"] = k
        if k == 0 and horizon == 1:  # the same rule as mlforecast's own predict(level=...)
            f = m.predict(h=1, level=list(LEVELS)).merge(part, on="unique_id")
            for lv in LEVELS:
                gap = (f["lgbm"] - f[f"down_{lv}"] - f[f"lgbm-lo-{lv}"]).abs().max()
                gap = max(gap, (f["lgbm"] + f[f"up_{lv}"] - f[f"lgbm-hi-{lv}"]).abs().max())
                if gap > 1e-6:
                    raise RuntimeError(f"half-widths differ from mlforecast's by {gap}")
        half.append(part)
    cv["block"] = block
    cv = cv.merge(pd.concat(half), on=["unique_id", "block"], how="left")
    args.elapsed = time.perf_counter() - t0
    out = pd.DataFrame(
        {
            "tool": "mlforecast lgbm-lags",
            "arc_id": cv["unique_id"].astype("int64").to_numpy(),
            "time": pd.DatetimeIndex(cv["ds"]).tz_localize("UTC"),
            "horizon": horizon,
            "y_pred": cv["lgbm"].to_numpy(dtype="float64"),
        }
    )
    for lv in LEVELS:
        out[f"lo_{lv}"] = (cv["lgbm"] - cv[f"down_{lv}"]).to_numpy(dtype="float64")
        out[f"hi_{lv}"] = (cv["lgbm"] + cv[f"up_{lv}"]).to_numpy(dtype="float64")
    how = "one-step model" if horizon == 1 else f"direct model for step {horizon} only"
    opt = f", horizons=[{horizon}]" if horizon > 1 else ""
    notes = {
        "what": (
            f"points: MLForecast(models={{'lgbm': LGBMRegressor(...)}}, freq='h', "
            f"lags={list(LAGS)}).cross_validation(df, n_windows={n_windows}, h={horizon}, "
            f"step_size=1, refit=168{opt}) ({how}); intervals: at each of the weekly refit "
            f"cutoffs, MLForecast(same).fit(df up to the cutoff{opt}, prediction_intervals="
            f"PredictionIntervals(n_windows={intervals.n_windows}, h={intervals.h})): the same "
            "LightGBM model (same data, deterministic) and its conformity scores m._cs_df "
            "(absolute errors of an extra model fitted before the last "
            f"{intervals.n_windows * intervals.h} h on its forecasts of those hours, per series), "
            "turned into per-series half-widths by mlforecast's 'conformal_distribution' rule "
            "(checked equal to predict(h=1, level=...) at the first refit; predict(level=...) "
            "fails with sparse horizons); they apply to the week's forecasts, as cross_validation "
            "does at its refit windows; "
            "no hour-of-day conditioning, no scaling. (cross_validation(..., "
            "prediction_intervals=..., level=...) itself recalibrates EVERY non-refit window "
            f"with a frozen-model backtest of n_windows forecasts over the model's own training "
            "hours, pooling the series: about 25 ms x n_windows per window, i.e. days for this "
            "year; see the docs)"
        ),
        "n_windows": n_windows,
        "refits": len(half),
    }
    return out, notes


def side_mlforecast_h1(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, Any]]:
    return _mlforecast(args, 1)


def side_mlforecast_h24(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, Any]]:
    return _mlforecast(args, 24)


# --------------------------------------------------------------------------- Darts
def _darts(args: argparse.Namespace, horizon: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    from darts import TimeSeries
    from darts.models import ConformalNaiveModel, LightGBMModel

    panel = _filled(args)
    start, end = _window(args)
    t0 = time.perf_counter()
    arcs = sorted(int(a) for a in panel["arc_id"].unique())
    series = []
    for arc in arcs:
        g = panel[panel["arc_id"] == arc]
        idx = _naive_utc(g["time"])
        series.append(TimeSeries.from_times_and_values(idx, g["flow"].to_numpy()[:, None]))
    # the calibration forecasts of the first target reach back CAL_HOURS + horizon h before
    # its origin: the model learns only from targets before them (Darts' conformal models need
    # a pre-trained model, and calibration errors must be out of sample)
    train_end = (start - (CAL_HOURS + 2 * horizon) * H).tz_convert(None)
    train = [s.drop_after(train_end) for s in series]
    model = LightGBMModel(
        lags=[-k for k in LAGS],
        output_chunk_length=1,
        output_chunk_shift=horizon - 1,
        **lgbm_params(args.cores, args.n_estimators),
    )
    model.fit(train)
    quantiles = [0.025, 0.1, 0.5, 0.9, 0.975]
    conformal = ConformalNaiveModel(model, quantiles=quantiles, cal_length=CAL_HOURS)
    forecasts = conformal.historical_forecasts(
        series,
        # with a shifted output, ``start`` is the origin's next hour, not the target
        start=(start - (horizon - 1) * H).tz_convert(None),
        forecast_horizon=1,
        stride=1,
        last_points_only=True,
        predict_likelihood_parameters=True,
        show_warnings=False,
    )
    args.elapsed = time.perf_counter() - t0
    frames = []
    for arc, f in zip(arcs, forecasts, strict=True):
        v = f.values()
        cols = {name.rsplit("_", 1)[-1]: i for i, name in enumerate(f.components)}

        def q(p: float, cols: dict[str, int] = cols, v: np.ndarray = v) -> np.ndarray:
            return np.asarray(v[:, cols[f"q{p:.3f}"]], dtype="float64")

        frames.append(
            pd.DataFrame(
                {
                    "tool": "darts lgbm-lags",
                    "arc_id": arc,
                    "time": pd.DatetimeIndex(f.time_index).tz_localize("UTC"),
                    "horizon": horizon,
                    "y_pred": q(0.5),
                    "lo_80": q(0.1),
                    "hi_80": q(0.9),
                    "lo_95": q(0.025),
                    "hi_95": q(0.975),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out = out[(out["time"] >= start) & (out["time"] < end)]
    notes = {
        "what": (
            f"LightGBMModel(lags={[-k for k in LAGS]}, output_chunk_length=1, "
            f"output_chunk_shift={horizon - 1}, ...) fitted ONCE on the 3 series up to "
            f"{train_end} UTC (conformal models ignore retrain); ConformalNaiveModel(model, "
            f"quantiles={quantiles}, cal_length={CAL_HOURS}, symmetric=True)"
            ".historical_forecasts(series, start=<first target>, forecast_horizon=1, stride=1, "
            "last_points_only=True, predict_likelihood_parameters=True): per series, the "
            f"quantiles of the absolute errors of the {CAL_HOURS} latest forecasts known at the "
            "origin; no hour-of-day conditioning, no scaling"
        ),
        "train_end_utc": str(train_end),
    }
    return out, notes


def side_darts_h1(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, Any]]:
    return _darts(args, 1)


def side_darts_h24(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, Any]]:
    return _darts(args, 24)


# --------------------------------------------------------------------------- MAPIE
def lag_table(panel: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Lag features of every (arc, hour) of a filled hourly panel, relative to the target."""
    frames = []
    for arc, g in panel.groupby("arc_id", sort=True):
        y = g["flow"].reset_index(drop=True)
        cols = {f"lag{k}": y.shift(k).to_numpy() for k in target_lags(horizon)}
        frames.append(pd.DataFrame({"arc_id": arc, "time": g["time"].to_numpy(), "y": y, **cols}))
    return pd.concat(frames, ignore_index=True).dropna().reset_index(drop=True)


def _mapie(args: argparse.Namespace, horizon: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    import mapie
    from lightgbm import LGBMRegressor
    from mapie.regression import SplitConformalRegressor

    panel = _filled(args)
    start, end = _window(args)
    t0 = time.perf_counter()
    table = lag_table(panel, horizon)
    feats = [f"lag{k}" for k in target_lags(horizon)]
    t = pd.DatetimeIndex(table["time"])
    X, y = table[feats].to_numpy(dtype="float64"), table["y"].to_numpy(dtype="float64")
    frames = []
    cutoff = start
    while cutoff < end:
        block_end = min(cutoff + pd.Timedelta(days=7), end)
        last_known = cutoff - horizon * H  # newest target known at the block's first origin
        cal_from = last_known - CAL_HOURS * H
        fit_rows = t <= cal_from
        cal_rows = (t > cal_from) & (t <= last_known)
        block = (t >= cutoff) & (t < block_end)
        est = LGBMRegressor(**lgbm_params(args.cores, args.n_estimators))
        est.fit(X[fit_rows], y[fit_rows])
        scr = SplitConformalRegressor(
            est, confidence_level=[lv / 100 for lv in LEVELS], prefit=True
        )
        scr.conformalize(X[cal_rows], y[cal_rows])
        point, bounds = scr.predict_interval(X[block])
        part = pd.DataFrame(
            {
                "tool": "mapie lgbm-lags",
                "arc_id": table["arc_id"].to_numpy()[block],
                "time": t[block],
                "horizon": horizon,
                "y_pred": np.asarray(point, dtype="float64"),
            }
        )
        for j, lv in enumerate(LEVELS):
            part[f"lo_{lv}"] = bounds[:, 0, j]
            part[f"hi_{lv}"] = bounds[:, 1, j]
        frames.append(part)
        cutoff = block_end
    args.elapsed = time.perf_counter() - t0
    notes = {
        "what": (
            f"mapie {mapie.__version__}: every week (cutoff c), LGBMRegressor(...) fitted on the "
            f"lag rows (lags {target_lags(horizon)} h before the target) with target <= c - "
            f"{horizon} h - {CAL_HOURS} h, SplitConformalRegressor(est, confidence_level=[0.8, "
            "0.95], prefit=True, conformity_score='absolute').conformalize(the rows of the "
            f"last {CAL_HOURS} h known at c - {horizon} h), predict_interval(the week's rows): "
            "pooled over the 3 arcs, no hour-of-day conditioning, no scaling"
        )
    }
    return pd.concat(frames, ignore_index=True), notes


def side_mapie_h1(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, Any]]:
    return _mapie(args, 1)


def side_mapie_h24(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, Any]]:
    return _mapie(args, 24)


SIDES = {
    "infotrafic": side_infotrafic,
    "infotrafic_lags": side_infotrafic_lags,
    "mlforecast_h1": side_mlforecast_h1,
    "mlforecast_h24": side_mlforecast_h24,
    "darts_h1": side_darts_h1,
    "darts_h24": side_darts_h24,
    "mapie_h1": side_mapie_h1,
    "mapie_h24": side_mapie_h24,
}


def run_side(args: argparse.Namespace) -> None:
    """Child process: run one side, write its predictions and notes."""
    with PeakRSS() as rss:
        preds, notes = SIDES[args.side](args)
    preds = preds[COLUMNS].reset_index(drop=True)
    preds.to_parquet(args.workdir / f"{args.side}.parquet")
    info = {
        "side": args.side,
        "seconds": args.elapsed,
        "peak_rss_mb": rss.peak / 2**20,
        "start_utc": args.start_utc,
        "end_utc": args.end_utc,
        **notes,
    }
    (args.workdir / f"{args.side}.json").write_text(json.dumps(info, indent=2, default=str))


# --------------------------------------------------------------------------- scoring
def _spawn(side: str, args: argparse.Namespace, start: str, end: str) -> dict[str, Any]:
    done = args.workdir / f"{side}.json"
    if args.reuse and done.exists():
        info: dict[str, Any] = json.loads(done.read_text())
        if (info["start_utc"], info["end_utc"]) == (start, end):
            print(f"  {side}: reusing {done}", flush=True)
            return info
    cmd = [
        sys.executable,
        __file__,
        "--side",
        side,
        "--workdir",
        str(args.workdir),
        "--start-utc",
        start,
        "--end-utc",
        end,
        "--cores",
        str(args.cores),
        "--n-jobs",
        str(args.n_jobs),
        "--n-estimators",
        str(args.n_estimators),
    ]
    print(f"  running {side} on [{start}, {end}) UTC ...", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=False)
    if proc.returncode != 0:
        print(f"  {side} FAILED (exit {proc.returncode})", flush=True)
        return {"side": side, "failed": proc.returncode}
    info = json.loads(done.read_text())
    print(f"  {side}: {info['seconds']:.0f} s ({time.perf_counter() - t0:.0f} s with startup)")
    return info


def _hours(times: pd.Series) -> np.ndarray:
    from infotrafic.intervals import local_hours

    return np.asarray(local_hours(times))


def score(
    preds: pd.DataFrame, truth: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, int]]:
    """Coverage, width, Winkler and MAE of every tool on the rows every tool forecast.

    Returns the summary (tool, horizon, level), the per-hour table and the common row counts.
    """
    p = preds[(preds["time"] >= start) & (preds["time"] < end)]
    p = p.merge(truth, on=["arc_id", "time"], how="inner")
    ok = np.isfinite(p[["y_true", "y_pred", *BOUNDS]].to_numpy(dtype="float64")).all(axis=1)
    p = p[ok]
    n_tools = p["tool"].nunique()
    key = ["arc_id", "time", "horizon"]
    count = p.groupby(key)["tool"].transform("nunique")
    p = p[count == n_tools].copy()
    p["hour"] = _hours(p["time"])
    y = p["y_true"].to_numpy(dtype="float64")
    rows, per_hour = [], []
    for lv in LEVELS:
        lo = p[f"lo_{lv}"].to_numpy(dtype="float64")
        hi = p[f"hi_{lv}"].to_numpy(dtype="float64")
        a = 1 - lv / 100
        long = pd.DataFrame(
            {
                "tool": p["tool"].to_numpy(),
                "horizon": p["horizon"].to_numpy(),
                "hour": p["hour"].to_numpy(),
                "level": lv,
                "inside": ((y >= lo) & (y <= hi)).astype("float64"),
                "width": hi - lo,
                "winkler": (hi - lo)
                + (2 / a) * (np.maximum(lo - y, 0.0) + np.maximum(y - hi, 0.0)),
                "ae": np.abs(p["y_pred"].to_numpy(dtype="float64") - y),
            }
        )
        g = long.groupby(["tool", "horizon", "level"], sort=True)
        summary = pd.DataFrame(
            {
                "n": g["inside"].size(),
                "mae": g["ae"].mean(),
                "coverage": g["inside"].mean(),
                "width": g["width"].mean(),
                "winkler": g["winkler"].mean(),
            }
        )
        hourly = long.groupby(["tool", "horizon", "level", "hour"], sort=True).agg(
            n=("inside", "size"),
            coverage=("inside", "mean"),
            width=("width", "mean"),
            winkler=("winkler", "mean"),
        )
        cov = hourly["coverage"].unstack("hour")
        summary["cov_min"] = cov.min(axis=1)
        summary["hour_min"] = cov.idxmin(axis=1)
        summary["cov_max"] = cov.max(axis=1)
        summary["hour_max"] = cov.idxmax(axis=1)
        summary["hours_off"] = (cov - lv / 100).abs().gt(0.05).sum(axis=1)
        rows.append(summary)
        per_hour.append(hourly)
    n_common = {int(h): int(n) for h, n in p.groupby("horizon")["time"].size().items()}
    n_common = {h: n // n_tools for h, n in n_common.items()}
    return pd.concat(rows).sort_index(), pd.concat(per_hour).sort_index(), n_common


def format_summary(summary: pd.DataFrame) -> str:
    head = (
        f"{'tool':<28}{'h':>3}{'level':>6}{'n':>8}{'MAE':>8}{'coverage':>10}"
        f"{'min (hour)':>13}{'max (hour)':>13}{'>±5':>5}{'width':>9}{'Winkler':>10}"
    )
    lines = [head, "-" * len(head)]
    for (tool, h, lv), r in summary.iterrows():
        lines.append(
            f"{tool:<28}{h:>3}{lv:>6}{int(r['n']):>8,}{r['mae']:>8.2f}{r['coverage']:>10.3f}"
            f"{r['cov_min']:>8.3f} ({int(r['hour_min']):>2})"
            f"{r['cov_max']:>8.3f} ({int(r['hour_max']):>2})"
            f"{int(r['hours_off']):>5}{r['width']:>9.1f}{r['winkler']:>10.1f}"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", choices=sorted(SIDES), help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help="keep inputs and predictions here")
    ap.add_argument("--start-utc", help=argparse.SUPPRESS)
    ap.add_argument("--end-utc", help=argparse.SUPPRESS)
    ap.add_argument("--history-start", default="2021-11-01", help="peers' first day (Paris)")
    ap.add_argument("--start", default="2022-11-01", help="first scored day (Paris)")
    ap.add_argument("--end", default="2023-12-01", help="end of scoring, exclusive (Paris)")
    ap.add_argument("--quick", action="store_true", help="score one month only (smoke test)")
    ap.add_argument(
        "--tools",
        nargs="+",
        choices=sorted(SIDES),
        default=list(SIDES),
        help="sides to run (default: all)",
    )
    ap.add_argument(
        "--sub-window",
        nargs=2,
        metavar=("START", "END"),
        help="Paris days: score the --sub-tools on this window only (and infotrafic with them)",
    )
    ap.add_argument("--sub-tools", nargs="*", default=[], choices=sorted(SIDES))
    ap.add_argument("--cores", type=int, default=2, help="LightGBM threads of the peers")
    ap.add_argument("--n-jobs", type=int, default=2, help="infotrafic refit blocks at once")
    ap.add_argument("--n-estimators", type=int, default=100)
    ap.add_argument("--reuse", action="store_true", help="reuse finished sides in --workdir")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    if args.side:
        run_side(args)
        return 0
    if args.quick:
        args.end = str((pd.Timestamp(args.start) + pd.Timedelta(days=30)).date())
    if args.workdir is None:
        import tempfile

        args.workdir = Path(tempfile.mkdtemp(prefix="infotrafic-intervals-"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    info = prepare(args.workdir, args)
    start, end = paris(args.start), paris(args.end)
    print(
        f"REAL data via {info['reader']}: {info['raw_rows']:,} rows, arcs {info['raw_arcs']}; "
        f"scoring [{args.start}, {args.end}) Paris = [{start}, {end}) UTC; horizons "
        f"{list(HORIZONS)} h; levels {list(LEVELS)}; peers on arcs {info['filled_arcs']} from "
        f"{args.history_start} ({info['filled_share']:.1%} of their hours filled); "
        f"workdir {args.workdir}"
    )
    sub = (paris(args.sub_window[0]), paris(args.sub_window[1])) if args.sub_window else None
    runs: dict[str, dict[str, Any]] = {}
    for side in args.tools:
        s, e = sub if (sub and side in args.sub_tools) else (start, end)
        runs[side] = _spawn(side, args, s.isoformat(), e.isoformat())
    ok = [s for s in args.tools if "failed" not in runs[s]]
    raw = pd.read_parquet(args.workdir / "raw.parquet")
    truth = raw.loc[raw["flow"].notna(), ["arc_id", "time", "flow"]].rename(
        columns={"flow": "y_true"}
    )
    preds = {s: pd.read_parquet(args.workdir / f"{s}.parquet") for s in ok}
    tables = []
    full = [s for s in ok if s not in args.sub_tools or sub is None]
    groups = [("full window", start, end, full)]
    subs = [s for s in ok if sub and s in args.sub_tools]
    if sub and subs:
        mine = [s for s in ok if s.startswith("infotrafic")]
        groups.append(("sub-window", sub[0], sub[1], mine + subs))
    for label, s0, s1, sides in groups:
        for h in HORIZONS:
            frame = pd.concat([preds[s][preds[s]["horizon"] == h] for s in sides])
            summary, hourly, n_common = score(frame, truth, s0, s1)
            if summary.empty:
                continue
            print(
                f"\n{label} [{s0}, {s1}) UTC, {h} h ahead: {n_common.get(h, 0):,} arc-hours "
                "common to every tool below (REAL data)"
            )
            print(format_summary(summary))
            tables.append(
                {
                    "window": label,
                    "start_utc": s0.isoformat(),
                    "end_utc": s1.isoformat(),
                    "horizon": h,
                    "n_common": n_common.get(h, 0),
                    "summary": json.loads(summary.reset_index().to_json(orient="records")),
                    "per_hour": json.loads(hourly.reset_index().to_json(orient="records")),
                }
            )
    print(
        "\ncoverage: share of observed flows inside the interval; min/max (hour): lowest and "
        "highest coverage over the 24 Paris hours of the day; >±5: hours of the day more than 5 "
        "points from nominal; width: mean hi - lo (vehicles/hour); Winkler: mean interval score "
        "(lower is better)"
    )
    print("\ntime per side (s, wall, this machine; not a speed benchmark):")
    for s in args.tools:
        r = runs[s]
        print(f"  {s:<18}" + ("FAILED" if "failed" in r else f"{r['seconds']:>8.0f}"))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {"info": info, "args": vars(args), "sides": runs, "tables": tables},
                indent=2,
                default=str,
            )
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
