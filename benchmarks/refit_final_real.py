"""REAL data: does serving the calibration fits (``train``'s default) cost accuracy?

``train`` fits each series and horizon on the data before its calibration window (the last 28
days) and serves that fit, calibrated on its own errors over the window; with
``refit_final=True`` it refits on every target before ``--end`` and serves the refit, calibrated
by the first fit (twice the fits). This script measures what the refit buys on the real Paris
files (``tests/data/paris``, archive + exports, read with ``infotrafic.etl.read_files``).

For each monthly origin ``E`` (Paris midnight, 2022-11-01 to 2023-11-01: 13 origins) the default
``gbm`` (flow only, horizons 1 and 24 h, levels 80 and 95) is trained on the data before ``E``
both ways, and both score the same targets: every observed flow whose forecast is issued in
``[E, E + 7 days)`` (issue time ``time - h``), features read from the real panel up to the
issue time. Reported per variant and horizon: MAE, coverage and mean width of the intervals
(the served forecasters with the model's stored calibration errors, as ``forecast`` applies
them), and the per-origin MAEs.

Run::

    python benchmarks/refit_final_real.py --json /work/runs/refit_final_real.json
    python benchmarks/refit_final_real.py --origins 1        # first origin only (smoke test)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import load_real_panel

from infotrafic.forecasting import ForecastModel, train

H = pd.Timedelta(hours=1)
HORIZONS = (1, 24)
LEVELS = (80, 95)


def _score(
    model: ForecastModel, panel: pd.DataFrame, origin: pd.Timestamp, h: int
) -> dict[str, Any]:
    """Errors and interval hits of the served flow forecaster of horizon ``h``."""
    cal = dataclasses.replace(model.calibrator, window=10**7)  # every stored error, as forecast
    lo, hi = origin + h * H, origin + (7 * 24 + h) * H
    history = panel[panel["time"] < hi]
    keep = (history["time"] >= lo) & history["flow"].notna()
    rows = history.loc[keep, ["arc_id", "time", "flow"]].reset_index(drop=True)
    keys = rows[["arc_id", "time"]]
    pred = np.asarray(model.forecasters[("flow", h)].predict(history, keys), dtype=np.float64)
    scale = cal.scales(history, keys, h, "flow")
    queries = pd.DataFrame({"time": rows["time"], "y_pred": pred, "scale": scale})
    mine = model.scores[(model.scores["target"] == "flow") & (model.scores["horizon"] == h)]
    bounds = cal.apply(queries, mine, h, "flow")
    y = rows["flow"].to_numpy(dtype=np.float64)
    out: dict[str, Any] = {"n": int(np.isfinite(pred).sum())}
    out["abs_error"] = float(np.nansum(np.abs(pred - y)))
    for level in LEVELS:
        low = bounds[f"lo_{level}"].to_numpy()
        high = bounds[f"hi_{level}"].to_numpy()
        ok = np.isfinite(low) & np.isfinite(high)
        out[f"n_{level}"] = int(ok.sum())
        out[f"hits_{level}"] = int(((y >= low) & (y <= high) & ok).sum())
        out[f"width_{level}"] = float(np.sum((high - low)[ok]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--origins", type=int, default=13, help="first N monthly origins (13)")
    ap.add_argument("--n-jobs", type=int, default=2, help="train's n_jobs (2)")
    ap.add_argument("--json", type=Path, help="write the records and the summary here")
    args = ap.parse_args()
    panel, reader = load_real_panel()
    print(f"REAL data: {len(panel):,} rows, {panel['arc_id'].nunique()} arcs ({reader})")
    origins = pd.date_range("2022-11-01", "2023-11-01", freq="MS", tz="Europe/Paris")
    records = []
    for origin in origins.tz_convert("UTC")[: args.origins]:
        for refit in (False, True):
            t0 = time.perf_counter()
            model = train(
                panel, "gbm", horizons=HORIZONS, levels=LEVELS, end=origin, state=False,
                refit_final=refit, n_jobs=args.n_jobs,
            )  # fmt: skip
            seconds = round(time.perf_counter() - t0, 1)
            for h in HORIZONS:
                rec = {"origin": origin.isoformat(), "refit_final": refit, "horizon": h}
                rec.update(_score(model, panel, origin, h), train_seconds=seconds)
                records.append(rec)
                print(json.dumps(rec), flush=True)
    df = pd.DataFrame(records)
    sums = df.groupby(["refit_final", "horizon"]).sum(numeric_only=True)
    summary = pd.DataFrame({"n": sums["n"], "mae": sums["abs_error"] / sums["n"]})
    for level in LEVELS:
        summary[f"coverage_{level}"] = sums[f"hits_{level}"] / sums[f"n_{level}"]
        summary[f"width_{level}"] = sums[f"width_{level}"] / sums[f"n_{level}"]
    summary["train_seconds"] = df.groupby(["refit_final", "horizon"])["train_seconds"].sum()
    print("\nREAL data, week after each origin, same targets for both variants:")
    print(summary.round(4).to_string())
    per_origin = df.assign(mae=df["abs_error"] / df["n"]).pivot_table(
        index=["origin", "horizon"], columns="refit_final", values="mae"
    )
    print(per_origin.round(2).to_string())
    if args.json:
        payload = {"records": records, "summary": summary.reset_index().to_dict("records")}
        args.json.write_text(json.dumps(payload, indent=1, default=str))


if __name__ == "__main__":
    main()
