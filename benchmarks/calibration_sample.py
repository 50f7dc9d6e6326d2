"""SYNTHETIC panel: does calibrating on a random set of whole arcs change the coverage?

On a network of more than 500 arcs, ``train`` computes its calibration errors on a seeded
random set of 500 whole arcs (120,000 arc-hours among theirs) instead of 120,000 arc-hours
drawn over every arc: the forecasts of the window then read 500 arcs' history instead of the
whole network's. This script measures what that changes, on the **synthetic** 3,000-arc panel
and the ``gbm`` model that ``forecast_speed.py`` leaves in its work directory (trained with the
default ``refit_final=False``, so the served forecasters are the ones that forecast the
calibration window). It measures the sampling only, never accuracy.

For each horizon, three samples of the calibration window are forecast by the served
forecaster: A and B, uniform over every arc (two seeds: B - A is the noise of any sample),
and C, the 500-arc sample ``train`` draws. The per-hour-of-day quantiles of each sample's
errors are applied to A's forecasts as ``forecast`` applies a model's errors (all of them known
at the origin); reported: A's coverage, overall and its
min/max over the hours of the day, the mean width, and the time to forecast each sample.

Run (after ``forecast_speed.py --workdir DIR``)::

    python benchmarks/calibration_sample.py --workdir DIR
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

from infotrafic._schema import validate_panel
from infotrafic.backtest import sample_keys
from infotrafic.forecasting import load_model
from infotrafic.forecasting._train import (
    MAX_ERRORS,
    _calibration_rows,
    _recent,
    _scores,
    _window_rows,
)

H = pd.Timedelta(hours=1)
LIMIT = 24 * MAX_ERRORS


def _uniform(rows: pd.DataFrame, seed: int) -> pd.DataFrame:
    hours = pd.DatetimeIndex(rows["time"]).as_unit("ns").asi8 // (3600 * 10**9)
    keys = sample_keys(rows["arc_id"].to_numpy(np.int64), hours, seed=seed)
    return rows.iloc[np.sort(np.argpartition(keys, LIMIT - 1)[:LIMIT])].reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, required=True, help="forecast_speed.py's --workdir")
    ap.add_argument("--horizon", type=int, action="append", help="horizons (default 1 and 24)")
    args = ap.parse_args()
    panel = validate_panel(pd.read_parquet(args.workdir / "panel.parquet"))
    model = load_model(args.workdir / "model_gbm")
    print(f"SYNTHETIC panel: {len(panel):,} rows, {panel['arc_id'].nunique():,} arcs")
    end = pd.Timestamp(model.training["end"])
    cut = end - model.calibrator.window * H
    cal = dataclasses.replace(model.calibrator, window=10**7)
    window = _window_rows(panel, cut, end, "flow")
    for h in args.horizon or [1, 24]:
        forecaster = model.forecasters[("flow", h)]
        samples = {
            "A uniform, seed 0": _uniform(window, 0),
            "B uniform, seed 1": _uniform(window, 1),
            "C 500 whole arcs": _calibration_rows(window, LIMIT),
        }
        errors, first = {}, None
        for name, rows in samples.items():
            t0 = time.perf_counter()
            history = _recent(forecaster, panel, cut, arcs=rows["arc_id"].unique())
            pred = np.asarray(forecaster.predict(history, rows[["arc_id", "time"]]), dtype=float)
            seconds = time.perf_counter() - t0
            errors[name] = _scores(cal, history, rows, pred, "flow", h, h)
            if first is None:
                scale = cal.scales(history, rows[["arc_id", "time"]], h, "flow")
                first = (rows, pd.DataFrame({"time": rows["time"], "y_pred": pred, "scale": scale}))
            arcs = rows["arc_id"].nunique()
            print(
                f"h={h}: {name}: {len(rows):,} rows of {arcs:,} arcs, {seconds:.1f} s to forecast"
            )
        assert first is not None
        rows, queries = first
        y = rows["flow"].to_numpy(dtype=float)
        hour = rows["time"].dt.tz_convert("Europe/Paris").dt.hour.to_numpy()
        for name, errs in errors.items():
            # as a forecast issued after the window applies them, every stored error known:
            # the errors are dated before the queries (their hour-of-day group is kept)
            known = errs.assign(time=errs["time"] - 2 * model.calibrator.window * H)
            bounds = cal.apply(queries, known, h, "flow")
            for level in model.levels:
                key = f"{level:g}"
                lo, hi = bounds[f"lo_{key}"].to_numpy(), bounds[f"hi_{key}"].to_numpy()
                ok = np.isfinite(lo) & np.isfinite(hi)
                hit = ((y >= lo) & (y <= hi))[ok]
                by_hour = pd.Series(hit).groupby(hour[ok]).mean()
                print(
                    f"  {level:g} % with the quantiles of {name}: coverage of A {hit.mean():.4f} "
                    f"(hours {by_hour.min():.3f}-{by_hour.max():.3f}), "
                    f"width {np.mean((hi - lo)[ok]):.1f}, {ok.sum():,} rows"
                )


if __name__ == "__main__":
    main()
