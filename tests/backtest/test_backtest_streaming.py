"""The streaming fast path equals a whole-panel build; the bounded pool draws bottom-k samples."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from infotrafic.backtest import BacktestConfig, backtest
from infotrafic.backtest._pool import TrainingPool, sample_keys
from infotrafic.datasets import load_sample
from infotrafic.forecasters import (
    GBMForecaster,
    HistoricalAverageForecaster,
    NaiveForecaster,
    SeasonalNaiveForecaster,
)

H = pd.Timedelta(hours=1)


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_sample()


@pytest.fixture(autouse=True, params=["chunked", "whole"])
def table_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run every test twice: features streamed chunk by chunk, and built once then sliced."""
    from infotrafic.backtest import _engine

    limit = 0 if request.param == "chunked" else 2**40
    monkeypatch.setattr(_engine, "_WHOLE_TABLE_BYTES", limit)
    return str(request.param)


def whole_panel_backtest(panel: pd.DataFrame, model: Any, cfg: BacktestConfig) -> pd.Series:
    """The pre-streaming engine: one feature table of the whole panel, sliced per refit."""
    m = clone(model).set_params(horizon=cfg.horizon, delay=cfg.delay)
    data = panel[panel["time"] < cfg.end].reset_index(drop=True)
    X = m.build_features(data)
    out = []
    for c in cfg.cutoffs():
        lower, upper = cfg.train_bounds(c)
        train = X[(X["time"] <= upper) & ((X["time"] > lower) if lower is not None else True)]
        rows = X[(X["time"] >= c) & (X["time"] < cfg.block_end(c)) & X["y"].notna()]
        if rows.empty:
            continue
        fitted = clone(m).fit_features(train)
        out.append(pd.Series(fitted.predict_features(rows), index=[rows["arc_id"], rows["time"]]))
    return pd.concat(out)


def _compare(panel: pd.DataFrame, model: Any, cfg: BacktestConfig) -> None:
    got = backtest(panel, {"m": model}, cfg).predictions.set_index(["arc_id", "time"])["y_pred"]
    want = whole_panel_backtest(panel, model, cfg)
    assert len(got) == len(want) > 0
    want = want.reindex(got.index).to_numpy(dtype="float32")
    np.testing.assert_array_equal(got.to_numpy(), want)


MODELS = {
    "naive": NaiveForecaster(),
    "naive_last": NaiveForecaster(fill="last", max_age=48),
    "seasonal_naive": SeasonalNaiveForecaster(),
    "historical_average": HistoricalAverageForecaster(),
    "gbm": GBMForecaster(backend="sklearn", max_iter=30),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_streaming_equals_whole_panel(sample: pd.DataFrame, name: str) -> None:
    cfg = BacktestConfig.create(start="2023-03-01", end="2023-05-10", refit="21D")
    _compare(sample, MODELS[name], cfg)


@pytest.mark.parametrize("name", ["naive", "historical_average", "gbm"])
def test_streaming_equals_whole_panel_sliding_with_delay(sample: pd.DataFrame, name: str) -> None:
    cfg = BacktestConfig.create(
        start="2023-02-10",
        end="2023-04-20",
        refit="10D",
        window="sliding",
        train_size="45D",
        horizon=2,
        delay=3,
    )
    _compare(sample, MODELS[name], cfg)


class _Recorder(SeasonalNaiveForecaster):
    """A learning model (refit per block) that records its training rows."""

    requires_refit = True
    seen: ClassVar[list[pd.DataFrame]] = []

    def __init__(
        self,
        *,
        max_train_rows: int | None = None,
        random_state: int = 0,
        season: int = 168,
        horizon: int = 1,
        delay: int = 0,
    ) -> None:
        super().__init__(season=season, horizon=horizon, delay=delay)
        self.max_train_rows = max_train_rows
        self.random_state = random_state

    def fit_features(self, X: pd.DataFrame) -> _Recorder:
        _Recorder.seen.append(X[["arc_id", "time", "y"]].copy())
        super().fit_features(X)
        return self


@pytest.mark.parametrize("window", ["expanding", "sliding"])
def test_bounded_pool_trains_on_the_bottom_k_of_each_window(
    sample: pd.DataFrame, window: str
) -> None:
    sliding = {"window": "sliding", "train_size": "40D"} if window == "sliding" else {}
    cfg = BacktestConfig.create(start="2023-03-01", end="2023-05-01", refit="15D", **sliding)
    _Recorder.seen.clear()
    k = 1500
    res = backtest(sample, {"r": _Recorder(max_train_rows=k, random_state=7)}, cfg)
    assert res.predictions["y_pred"].notna().mean() > 0.9
    grid = _Recorder(season=168).build_features(sample[sample["time"] < cfg.end])
    grid = grid[grid["y"].notna()]
    assert len(_Recorder.seen) == len(cfg.cutoffs())
    for c, seen in zip(cfg.cutoffs(), _Recorder.seen, strict=True):
        lower, upper = cfg.train_bounds(c)
        ok = (grid["time"] <= upper) & ((grid["time"] > lower) if lower is not None else True)
        eligible = grid[ok]
        hours = eligible["time"].astype("int64").to_numpy() // (3600 * 10**9)
        keys = sample_keys(eligible["arc_id"].to_numpy(), hours, 7)
        want = eligible.iloc[np.sort(np.argsort(keys)[:k])][["arc_id", "time", "y"]]
        want = want.reset_index(drop=True)
        assert len(seen) == min(k, len(eligible))
        pd.testing.assert_frame_equal(seen.reset_index(drop=True), want)


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(1, 40),
    lead=st.integers(1, 5),
    step=st.integers(3, 15),
    size=st.none() | st.integers(4, 40),
    seed=st.integers(0, 100),
)
def test_pool_bottom_k_property(k: int, lead: int, step: int, size: int | None, seed: int) -> None:
    """Rows added chunk by chunk; every window draws exactly its rows' bottom-k, in order."""
    rng = np.random.default_rng(seed)
    n_hours, start = 120, 50
    hours = np.repeat(np.arange(n_hours), 3)
    arcs = np.tile([1, 2, 3], n_hours)
    keep = rng.random(len(hours)) < 0.8
    hours, arcs = hours[keep], arcs[keep]
    key = sample_keys(arcs, hours, seed)
    order = arcs * 1000 + hours
    frame = pd.DataFrame({"arc": arcs, "hour": hours})
    cutoffs = list(range(start, n_hours, step))
    uppers = [c - lead for c in cutoffs]
    lowers = None if size is None else [u - size for u in uppers]
    pool = TrainingPool(uppers, lowers, k)
    edges = [(0, start, None)] + [(c, c + step, i) for i, c in enumerate(cutoffs)]
    for lo, hi, i in edges:
        if i is not None:
            got = pool.training(i, empty=frame.iloc[:0])
            ok = hours <= uppers[i]
            if lowers is not None:
                ok &= hours > lowers[i]
            idx = np.flatnonzero(ok)
            idx = idx[np.argsort(key[idx])[:k]]
            idx = idx[np.argsort(order[idx])]
            pd.testing.assert_frame_equal(got, frame.iloc[idx].reset_index(drop=True))
        m = (hours >= lo) & (hours < hi)
        pool.add(
            frame[m].reset_index(drop=True), hours[m], key[m], order[m], 0 if i is None else i + 1
        )
        assert len(pool) <= k * (len(pool.pieces) + 1)


def test_parallel_streaming_equals_serial(sample: pd.DataFrame) -> None:
    cfg = BacktestConfig.create(start="2023-03-01", end="2023-05-10", refit="14D")
    models = {"ha": MODELS["historical_average"], "naive": MODELS["naive"]}
    serial = backtest(sample, models, cfg).predictions
    par = backtest(sample, models, dataclasses.replace(cfg, n_jobs=2)).predictions
    pd.testing.assert_frame_equal(serial, par)
