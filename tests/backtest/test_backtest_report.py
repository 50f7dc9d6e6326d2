"""Report: tables on hand-made predictions, JSON, HTML, text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from infotrafic.backtest import build_report, seasonal_scales

NAN = np.nan


def hand_predictions() -> pd.DataFrame:
    # Two arcs, three target hours (UTC, end of hour), three models.
    times = pd.to_datetime(
        ["2023-07-03 08:00", "2023-07-03 09:00", "2023-07-03 10:00"], utc=True
    )  # Monday; Paris = UTC+2, start of hour -> 09h, 10h, 11h
    rows = []
    y = {1: [100.0, 200.0, 300.0], 2: [10.0, 20.0, 30.0]}
    preds = {
        "naive": {1: [110.0, 190.0, 330.0], 2: [12.0, 18.0, NAN]},
        "seasonal_naive": {1: [80.0, 260.0, 300.0], 2: [10.0, 30.0, 35.0]},
        "gbm": {1: [101.0, 202.0, 297.0], 2: [11.0, 19.0, 31.0]},
    }
    for model, by_arc in preds.items():
        for arc in (1, 2):
            for i, t in enumerate(times):
                rows.append((arc, t, model, t, y[arc][i], by_arc[arc][i]))
    return pd.DataFrame(rows, columns=["arc_id", "time", "model", "fitted_at", "y_true", "y_pred"])


def test_tables_match_hand_computations() -> None:
    rep = build_report(hand_predictions(), scales={1: 20.0, 2: 2.0})
    assert rep.models == ("naive", "seasonal_naive", "gbm")
    assert rep.n_targets == 6 and rep.n_common == 5  # naive misses (arc 2, 10:00)
    # overall: each model on its own rows
    assert rep.overall.loc["naive", "n_predicted"] == 5
    assert rep.overall.loc["naive", "coverage"] == pytest.approx(5 / 6)
    assert rep.overall.loc["gbm", "mae"] == pytest.approx((1 + 2 + 3 + 1 + 1 + 1) / 6)
    # comparison: on the 5 common rows, sorted by MAE
    assert list(rep.comparison.index) == ["gbm", "naive", "seasonal_naive"]
    gbm = (1 + 2 + 3 + 1 + 1) / 5
    naive = (10 + 10 + 30 + 2 + 2) / 5
    sn = (20 + 60 + 0 + 0 + 10) / 5
    assert rep.comparison.loc["gbm", "mae"] == pytest.approx(gbm)
    assert rep.comparison.loc["naive", "mae"] == pytest.approx(naive)
    assert rep.comparison.loc["gbm", "ratio_seasonal_naive"] == pytest.approx(gbm / sn)
    assert rep.comparison.loc["gbm", "ratio_naive"] == pytest.approx(gbm / naive)
    assert rep.comparison.loc["naive", "bias"] == pytest.approx((10 - 10 + 30 + 2 - 2) / 5)
    assert rep.comparison.loc["naive", "wmape"] == pytest.approx(54 / (600 + 30))
    # MASE = mean of |e| / scale(arc)
    assert rep.comparison.loc["naive", "mase"] == pytest.approx(
        (10 / 20 + 10 / 20 + 30 / 20 + 2 / 2 + 2 / 2) / 5
    )
    assert rep.per_arc.loc[("gbm", 2), "mae"] == pytest.approx(1.0)
    assert rep.per_arc.loc[("gbm", 2), "n"] == 2
    # hour of day = Paris start of the counting hour
    hours = sorted(rep.per_hour.loc["gbm"].index)
    assert hours == [9, 10, 11]
    assert list(rep.per_weekday.loc["gbm"].index) == [0]


def test_no_scales_gives_nan_mase_and_missing_reference_no_ratio() -> None:
    p = hand_predictions()
    p = p[p["model"] != "naive"]
    rep = build_report(p)
    assert rep.comparison["mase"].isna().all()
    assert "ratio_naive" not in rep.comparison.columns
    assert "ratio_seasonal_naive" in rep.comparison.columns


def test_seasonal_scales_hand() -> None:
    t = pd.date_range("2023-01-01", periods=170, freq="h", tz="UTC")
    flow = np.arange(170, dtype=float)
    flow[168] = NAN
    panel = pd.DataFrame({"arc_id": 5, "time": t, "flow": flow})
    s = seasonal_scales(panel, t[-1] + pd.Timedelta(hours=1))
    assert s.to_dict() == {5: 168.0}  # only pair (169, 1)
    assert seasonal_scales(panel, t[100]).empty


def test_json_html_text(tmp_path: Path) -> None:
    rep = build_report(hand_predictions(), scales={1: 20.0, 2: 2.0}, config={"refit": "7D"})
    data = json.loads(rep.to_json())
    assert data["n_common"] == 5 and data["config"]["refit"] == "7D"
    assert {r["model"] for r in data["comparison"]} == {"gbm", "naive", "seasonal_naive"}
    assert data["comparison"][0]["model"] == "gbm"
    html = rep.to_html()
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") == 2
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    text = rep.to_text(per_arc=True)
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model"))
    assert lines[header + 1].startswith("gbm ")
    assert "MAE per arc" in text and "gbm/seasonal_naive" in text
    out_json = rep.write_json(tmp_path / "sub" / "r.json")
    out_html = rep.write_html(tmp_path / "r.html")
    assert json.loads(out_json.read_text())["n_targets"] == 6
    assert "<svg" in out_html.read_text()
    assert not list(tmp_path.glob(".*.tmp"))


def test_report_tables_are_the_metrics_of_the_metrics_module() -> None:
    from infotrafic.backtest import metrics

    p = hand_predictions()
    p["horizon"] = 1
    p["lo_80"] = p["y_pred"] - 5.0
    p["hi_80"] = p["y_pred"] + 5.0
    scales = {1: 20.0, 2: 2.0}
    rep = build_report(p, scales=scales)
    common = p.groupby(["arc_id", "time"])["y_pred"].transform(lambda s: s.notna().all())
    for model, rows in p.loc[common].groupby("model"):
        y, yp = rows["y_true"].to_numpy(), rows["y_pred"].to_numpy()
        row = rep.comparison.loc[model]
        assert row["mae"] == pytest.approx(metrics.mae(y, yp), rel=1e-12)
        assert row["rmse"] == pytest.approx(metrics.rmse(y, yp), rel=1e-12)
        assert row["bias"] == pytest.approx(metrics.bias(y, yp), rel=1e-12)
        assert row["wmape"] == pytest.approx(metrics.wmape(y, yp), rel=1e-12)
        per_arc = [
            metrics.mase(a["y_true"], a["y_pred"], scale=scales[arc])
            for arc, a in rows.groupby("arc_id")
        ]
        weights = rows.groupby("arc_id").size().to_numpy()
        assert row["mase"] == pytest.approx(np.average(per_arc, weights=weights), rel=1e-12)
        iv = rep.intervals.loc[(model, 80.0, 1)]
        lo, hi = rows["lo_80"].to_numpy(), rows["hi_80"].to_numpy()
        assert iv["coverage"] == pytest.approx(metrics.coverage(y, lo, hi), rel=1e-12)
        assert iv["width"] == pytest.approx(metrics.width(lo, hi), rel=1e-12)
        assert iv["winkler"] == pytest.approx(metrics.winkler(y, lo, hi, 80), rel=1e-12)
    assert rep.intervals.loc[("gbm", 80.0, 1), "coverage"] == pytest.approx(1.0)
    assert rep.intervals.loc[("naive", 80.0, 1), "coverage"] == pytest.approx(2 / 5)
