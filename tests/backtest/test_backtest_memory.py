"""Whole-history work done in batches of arcs: the store read and the MASE scales.

The peak memory of a backtest should not be several times its panel: a store is read a batch
of arcs at a time (:mod:`infotrafic.backtest._load`) and the seasonal scales are computed a
batch of arcs at a time (:func:`infotrafic.backtest._report.seasonal_scales`). These tests pin
that the work is batched and that the results are those of one whole pass, bit for bit
(memory itself is measured by ``benchmarks/dask_backtest.py``, not asserted here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from infotrafic.backtest import BacktestConfig, _load, _report, backtest, seasonal_scales
from infotrafic.backtest._load import prepare_data
from infotrafic.datasets import load_sample
from infotrafic.etl import ParquetStore
from infotrafic.forecasters import GBMForecaster, SeasonalNaiveForecaster


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_sample()


@pytest.fixture(scope="module")
def store(sample: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> ParquetStore:
    out = ParquetStore(tmp_path_factory.mktemp("memory") / "store")
    out.ingest(sample)
    return out


def _spy_reads(store: ParquetStore, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record the ``arcs`` of every ``store.read`` call."""
    calls: list[Any] = []
    read = ParquetStore.read

    def spy(self: ParquetStore, arcs: Any = None, **kwargs: Any) -> pd.DataFrame:
        calls.append(None if arcs is None else sorted(arcs))
        return read(self, arcs=arcs, **kwargs)

    monkeypatch.setattr(ParquetStore, "read", spy)
    return calls


def test_store_is_read_in_batches_of_whole_arcs(
    store: ParquetStore, sample: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = BacktestConfig.create(start="2023-05-01", end="2023-06-01")
    whole = store.read(end=cfg.end)
    per_arc = whole.groupby("arc_id").size()
    monkeypatch.setattr(_load, "READ_BATCH_ROWS", int(per_arc.max()) * 2)
    calls = _spy_reads(store, monkeypatch)
    got = _load.load_store(store, cfg)
    assert len(calls) > 1  # several batches, each a few whole arcs
    assert all(c is not None and len(c) <= 2 for c in calls)
    assert sorted(a for c in calls for a in c) == sorted(sample["arc_id"].unique())
    want = prepare_data(whole, cfg)
    pd.testing.assert_frame_equal(got, want)
    assert got.equals(want)


def test_store_batches_keep_the_configured_arcs(
    store: ParquetStore, sample: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    arcs = sorted(sample["arc_id"].unique())[1::2]
    cfg = BacktestConfig.create(start="2023-05-01", end="2023-06-01", arcs=arcs)
    monkeypatch.setattr(_load, "READ_BATCH_ROWS", 1)  # one arc per batch
    calls = _spy_reads(store, monkeypatch)
    got = _load.load_store(store, cfg)
    assert calls == [[a] for a in arcs]
    assert got.equals(prepare_data(store.read(arcs=arcs, end=cfg.end), cfg))


def test_backtest_of_a_store_read_in_batches_is_the_panel_s(
    store: ParquetStore, sample: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = {"seasonal_naive": SeasonalNaiveForecaster(), "gbm": GBMForecaster(max_iter=10)}
    cfg = BacktestConfig.create(start="2023-05-01", end="2023-05-29", refit="14D")
    want = backtest(sample, models, cfg)
    monkeypatch.setattr(_load, "READ_BATCH_ROWS", 1)
    calls = _spy_reads(store, monkeypatch)
    got = backtest(store, models, cfg)
    assert len(calls) == sample["arc_id"].nunique()
    assert got.predictions.equals(want.predictions)
    assert got.scales is not None and want.scales is not None
    assert got.scales.equals(want.scales)


@pytest.mark.parametrize("shuffle", [False, True])
def test_seasonal_scales_are_computed_arc_batch_by_arc_batch(
    sample: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, shuffle: bool
) -> None:
    before = pd.Timestamp("2023-05-01", tz="UTC")
    panel = sample.sample(frac=1.0, random_state=3) if shuffle else sample
    monkeypatch.setattr(_report, "SCALE_BATCH_ROWS", 10**12)
    whole = seasonal_scales(panel, before)
    batches: list[np.ndarray] = []
    one = _report._arc_scales

    def spy(part: pd.DataFrame, *args: Any) -> pd.Series:
        batches.append(np.unique(part["arc_id"].to_numpy()))
        return one(part, *args)

    monkeypatch.setattr(_report, "_arc_scales", spy)
    monkeypatch.setattr(_report, "SCALE_BATCH_ROWS", int(panel.groupby("arc_id").size().max()))
    got = seasonal_scales(panel, before)
    assert len(batches) == panel["arc_id"].nunique()  # one arc per batch
    assert got.equals(whole) if not shuffle else np.allclose(got, whole.reindex(got.index))
    assert got.name == "scale" and got.index.equals(whole.index)


def test_arc_batches_never_split_an_arc() -> None:
    p = pd.DataFrame({"arc_id": [1, 1, 1, 2, 3, 3, 4]})
    sizes = [b["arc_id"].tolist() for b in _report.arc_batches(p, 2)]
    assert sizes == [[1, 1, 1], [2], [3, 3], [4]]
    shuffled = p.iloc[::-1].reset_index(drop=True)
    got = [sorted(b["arc_id"].tolist()) for b in _report.arc_batches(shuffled, 2)]
    assert got == [[1, 1, 1], [2], [3, 3], [4]]


def test_no_whole_history_copy_is_kept_while_running(
    tmp_path: Path, sample: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store-backed run keeps no batch once the panel is assembled (only the panel itself)."""
    import gc
    import weakref

    from infotrafic.backtest import _engine

    store = ParquetStore(tmp_path / "store")
    store.ingest(sample)
    refs: list[weakref.ref[pd.DataFrame]] = []
    prepare = _load.prepare_data

    def spy(*args: Any) -> pd.DataFrame:
        frame = prepare(*args)
        refs.append(weakref.ref(frame))
        return frame

    alive: list[bool] = []
    run_prepared = _engine.run_prepared

    def check(*args: Any) -> Any:
        gc.collect()
        alive.extend(ref() is not None for ref in refs)
        return run_prepared(*args)

    monkeypatch.setattr(_load, "READ_BATCH_ROWS", 1)  # one arc per batch
    monkeypatch.setattr(_load, "prepare_data", spy)
    monkeypatch.setattr(_engine, "run_prepared", check)
    cfg = BacktestConfig.create(start="2023-05-01", end="2023-05-15")
    backtest(store, [SeasonalNaiveForecaster()], cfg)
    assert len(alive) == sample["arc_id"].nunique() > 1
    assert not any(alive)
