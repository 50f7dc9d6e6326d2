"""Several horizons, prediction intervals and traffic states in one backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _backtest_doubles import LinearLag, synthetic_panel

from infotrafic.backtest import BacktestConfig, backtest, check_no_future_use
from infotrafic.exceptions import BacktestError, ConfigurationError
from infotrafic.forecasters import NaiveForecaster, SeasonalNaiveForecaster

H = pd.Timedelta(hours=1)
WINDOW = {"start": "2023-02-06T00:00Z", "end": "2023-02-20T00:00Z", "refit": "7D"}


def _models() -> dict[str, object]:
    return {"naive": NaiveForecaster(), "seasonal_naive": SeasonalNaiveForecaster()}


def test_several_horizons_are_direct_forecasts_of_the_same_targets() -> None:
    panel = synthetic_panel(n_arcs=2, weeks=8)
    res = backtest(panel, _models(), **WINDOW, horizon=[1, "6h", 24])
    p = res.predictions
    assert sorted(p["horizon"].unique().tolist()) == [1, 6, 24]
    assert (p["origin"] == p["time"] - p["horizon"].astype("int64") * H).all()
    # the same target rows at every horizon, and each horizon is the one-horizon backtest
    for h in (1, 6, 24):
        one = backtest(panel, _models(), **WINDOW, horizon=h).predictions
        mine = p[p["horizon"] == h].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, one)
    # naive at horizon h predicts y(t - h): its error grows with h; seasonal naive does not move
    per_h = res.report.per_horizon
    naive = per_h.xs("naive", level="model")["mae"]
    assert naive.loc[1] < naive.loc[6]
    sn = p[p["model"] == "seasonal_naive"]
    np.testing.assert_array_equal(  # y(t - 168) whatever the horizon below a week
        sn.loc[sn["horizon"] == 1, "y_pred"].to_numpy(), sn.loc[sn["horizon"] == 24, "y_pred"]
    )
    assert (per_h.xs("seasonal_naive", level="model")["ratio_seasonal_naive"] == 1.0).all()
    text = res.report.to_text()
    assert "MAE per horizon" in text and "horizon 1, 6, 24 h" in text
    html = res.report.to_html()
    assert "Error against horizon" in html and "MAE by horizon" in html


def test_intervals_are_calibrated_on_past_errors_only() -> None:
    panel = synthetic_panel(n_arcs=3, weeks=10)
    cfg = BacktestConfig.create(**WINDOW, horizon=[1, 3], levels=[80, 95], calibration="14D")
    res = backtest(panel, _models(), cfg)
    p = res.predictions
    made = p["y_pred"].notna()
    for col in ("lo_80", "hi_80", "lo_95", "hi_95"):
        # 95 % bounds need at least 39 errors of the hour of day: the first days may lack them
        assert col in p.columns and p.loc[made, col].notna().mean() > 0.97
        assert p.loc[~made, col].isna().all()
    both = p[["lo_80", "lo_95"]].notna().all(axis=1)
    assert (p.loc[both, "lo_95"] <= p.loc[both, "lo_80"] + 1e-3).all()
    assert (p.loc[both, "hi_80"] <= p.loc[both, "hi_95"] + 1e-3).all()
    assert p["time"].min() >= cfg.start  # the calibration warm-up is not scored
    iv = res.report.intervals
    assert set(iv.index.get_level_values("level")) == {80.0, 95.0}
    # stationary synthetic errors: coverage close to nominal
    for (_, level, _), row in iv.iterrows():
        assert abs(row["coverage"] - level / 100) < 0.06
    assert set(res.report.intervals_per_hour.index.get_level_values("hour")) == set(range(24))
    # the winkler score of a model is never below its mean width
    assert (iv["winkler"] >= iv["width"] - 1e-6).all()
    # no interval uses an error unknown at its origin (nor any other forecast of the future)
    assert check_no_future_use(panel, _models(), cfg) > 0


def test_states_from_occupancy_forecasts_against_persistence() -> None:
    panel = synthetic_panel(n_arcs=2, weeks=8)
    panel["occupancy"] = panel["flow"] / 12  # crosses the 15/30/50 % thresholds
    cfg = BacktestConfig.create(**WINDOW, horizon=[1, 2], state=True, calibration="14D")
    res = backtest(panel, _models(), cfg)
    s = res.states
    assert s is not None
    assert set(s["model"].unique()) == {"naive", "seasonal_naive", "persistence"}
    assert s["state_true"].between(1, 4).all()
    assert (s["occupancy_true"] == s["occupancy_true"]).all()
    naive = s[(s["model"] == "naive") & s["occupancy_pred"].notna()]
    assert naive["state_probability"].between(0, 1).all() and (naive["state_pred"] > 0).all()
    scores = res.report.state_scores
    assert {"accuracy", "macro_f1", "n"} <= set(scores.columns)
    conf = res.report.state_confusion
    per = conf.xs(("persistence", 1), level=("model", "horizon"))
    assert int(per.to_numpy().sum()) == int(scores.loc[("persistence", 1), "n"])
    # persistence is the state of the occupancy observed at the origin
    pers = s[(s["model"] == "persistence") & (s["horizon"] == 1)].set_index(["arc_id", "time"])
    obs = panel.set_index(["arc_id", "time"])["occupancy"]
    origin = pd.MultiIndex.from_arrays(
        [pers.index.get_level_values(0), pers.index.get_level_values(1) - H]
    )
    k = obs.reindex(origin).to_numpy()
    expected = np.where(np.isnan(k), 0, np.digitize(k, [15, 30, 50]) + 1)
    np.testing.assert_array_equal(pers["state_pred"].to_numpy(), expected)
    assert "Traffic state" in res.report.to_html()
    assert check_no_future_use(panel, _models(), cfg) > 0


def test_state_needs_occupancy_and_capable_models() -> None:
    panel = synthetic_panel(n_arcs=1, weeks=6).assign(occupancy=np.nan)
    with pytest.raises(BacktestError, match="needs occupancy"):
        backtest(panel, _models(), **WINDOW, state=True)
    full = synthetic_panel(n_arcs=1, weeks=6)
    with pytest.raises(BacktestError, match="no model can forecast the occupancy"):
        backtest(full, {"lin": LinearLag()}, **WINDOW, state=True)


def test_calibration_warmup_before_the_data_is_best_effort() -> None:
    """Intervals asked for right at the start of the data: the warm-up blocks give no errors."""
    panel = synthetic_panel(n_arcs=2, weeks=4)
    res = backtest(
        panel,
        {"lin": LinearLag()},
        start="2023-01-16T00:00Z",
        end="2023-01-30T00:00Z",
        refit="7D",
        levels=[80],
    )
    p = res.predictions
    assert p["y_pred"].notna().any() and p["lo_80"].notna().any()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"horizon": 0}, "at least 1 hour"),
        ({"levels": [0]}, "outside"),
        ({"levels": [100]}, "outside"),
        ({"calibration": "0h"}, "positive"),
    ],
)
def test_bad_options_are_named(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        BacktestConfig.create(**WINDOW, **kwargs)  # type: ignore[arg-type]
