"""Schedule maths: dates, durations, cutoffs, blocks, training bounds, delay."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from _backtest_doubles import Recorder, synthetic_panel

from infotrafic.backtest import BacktestConfig, backtest, parse_duration, parse_hours, parse_time
from infotrafic.exceptions import BacktestError, ConfigurationError

H = pd.Timedelta(hours=1)


def utc(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def test_parse_time_paris_and_aware() -> None:
    assert parse_time("2023-01-15") == utc("2023-01-14 23:00")  # CET
    assert parse_time("2023-07-15") == utc("2023-07-14 22:00")  # CEST
    assert parse_time(dt.date(2023, 7, 15)) == utc("2023-07-14 22:00")
    assert parse_time("2023-07-15T00:00+00:00") == utc("2023-07-15 00:00")
    assert parse_time(pd.Timestamp("2023-07-15 10:00", tz="Europe/Paris")) == utc(
        "2023-07-15 08:00"
    )


@pytest.mark.parametrize(
    "value", ["2023-03-26 02:00", "2023-10-29 02:00", "2023-07-15 10:30", "not a date"]
)
def test_parse_time_rejects(value: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_time(value)


def test_parse_durations() -> None:
    assert parse_duration("7D") == pd.Timedelta(hours=168)
    assert parse_duration(dt.timedelta(hours=5)) == 5 * H
    assert parse_hours("3h") == 3 and parse_hours(2) == 2 and parse_hours("1D") == 24
    for bad in ("90min", "-1h", "0h", "x"):
        with pytest.raises(ConfigurationError):
            parse_duration(bad)
    with pytest.raises(ConfigurationError):
        parse_hours("0h", minimum=1)
    with pytest.raises(ConfigurationError):
        parse_hours(True)


def test_cutoffs_blocks_and_last_partial_block() -> None:
    cfg = BacktestConfig.create(start="2023-01-02T00:00Z", end="2023-01-20T00:00Z", refit="7D")
    cuts = cfg.cutoffs()
    assert cuts == [utc("2023-01-02"), utc("2023-01-09"), utc("2023-01-16")]
    assert cfg.block_end(cuts[0]) == utc("2023-01-09")
    assert cfg.block_end(cuts[-1]) == utc("2023-01-20")  # truncated at end


def test_train_bounds_expanding_sliding_delay() -> None:
    cfg = BacktestConfig.create(start="2023-01-02T00:00Z", end="2023-01-09T00:00Z", delay="2h")
    assert cfg.lead == 3 and cfg.train_bounds(cfg.start) == (None, utc("2023-01-01 21:00"))
    cfg = BacktestConfig.create(
        start="2023-01-02T00:00Z",
        end="2023-01-09T00:00Z",
        horizon="3h",
        window="sliding",
        train_size="1D",
    )
    lower, upper = cfg.train_bounds(cfg.start)
    assert upper == utc("2023-01-01 21:00") and lower == upper - 24 * H


@pytest.mark.parametrize(
    "kwargs",
    [
        {"end": "2023-01-01"},
        {"window": "sliding"},
        {"train_size": "10D"},
        {"window": "rolling"},
        {"horizon": 0},
        {"delay": -1},
        {"n_jobs": 0},
    ],
)
def test_config_errors(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"start": "2023-01-02", "end": "2023-02-01"}
    with pytest.raises(ConfigurationError):
        BacktestConfig.create(**{**base, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(("horizon", "delay"), [(1, 0), (3, 0), (1, 4), (2, 3)])
@pytest.mark.parametrize("window", ["expanding", "sliding"])
def test_engine_hands_models_only_available_data(horizon: int, delay: int, window: str) -> None:
    panel = synthetic_panel(n_arcs=2, weeks=5)
    Recorder.log = []
    res = backtest(
        panel,
        {"rec": Recorder()},
        start="2023-01-23T00:00Z",
        end="2023-02-03T05:00Z",
        refit="3D",
        horizon=horizon,
        delay=delay,
        window=window,
        train_size="4D" if window == "sliding" else None,
    )
    cfg = res.config
    lead = (horizon + delay) * H
    assert len(Recorder.log) == len(cfg.cutoffs()) == 4
    for entry, c in zip(Recorder.log, cfg.cutoffs(), strict=True):
        assert entry["train_max"] == c - lead  # trains on everything known at the block's start
        if window == "sliding":
            assert entry["train_min"] == c - lead - pd.Timedelta("4D") + H
        else:
            assert entry["train_min"] == panel["time"].min()
        assert c <= entry["t_min"] and entry["t_max"] < cfg.block_end(c)
        assert entry["history_max"] <= entry["t_max"]
    pred = res.predictions
    assert pred["time"].min() >= cfg.start and pred["time"].max() < cfg.end
    # Each prediction was made by the model fitted at the start of its block, from the data
    # up to its origin.
    k = ((pred["time"] - cfg.start) // cfg.refit).astype(int)
    assert (pred["fitted_at"] == cfg.start + k * cfg.refit).all()
    assert (pred["origin"] == pred["time"] - lead).all() and (pred["horizon"] == horizon).all()


def test_history_hides_values_no_block_target_may_use() -> None:
    seen: list[pd.DataFrame] = []

    class Peek(Recorder):
        def predict(self, panel: pd.DataFrame, targets: pd.DataFrame) -> np.ndarray:
            seen.append(panel)
            return np.zeros(len(targets))

    panel = synthetic_panel(n_arcs=1, weeks=3)
    backtest(panel, [Peek()], start="2023-01-16T00:00Z", end="2023-01-17T00:00Z", horizon=2)
    (hist,) = seen
    last = hist["time"].max()
    assert hist.loc[hist["time"] > last - 2 * H, "flow"].isna().all()
    assert hist.loc[hist["time"] <= last - 2 * H, "flow"].notna().any()


def test_only_observed_targets_are_scored() -> None:
    panel = synthetic_panel(n_arcs=2, weeks=3)
    res = backtest(panel, [Recorder()], start="2023-01-16T00:00Z", end="2023-01-23T00:00Z")
    window = panel[(panel["time"] >= utc("2023-01-16")) & (panel["time"] < utc("2023-01-23"))]
    assert len(res.predictions) == window["flow"].notna().sum()
    assert res.predictions["y_true"].notna().all()


def test_empty_window_is_an_error() -> None:
    panel = synthetic_panel(n_arcs=1, weeks=2)
    with pytest.raises(BacktestError, match="no observed flow"):
        backtest(panel, [Recorder()], start="2030-01-01", end="2030-02-01")
    with pytest.raises(ConfigurationError):
        backtest(panel, [Recorder()])
    with pytest.raises(ConfigurationError):
        backtest(panel, [], start="2023-01-10", end="2023-01-12")
