"""The backtest's tabular fast path: feature rows built once, chunk by chunk, a training pool.

A tabular forecaster (``tabular`` tag) gets its feature rows built once per row, chunk by
chunk (:class:`FeatureChunks`: one refit block, or a month of history, at a time, from the
panel slice its ``lookback`` tag needs; a small table is built once and sliced). The rows
join a :class:`~infotrafic.backtest._pool.TrainingPool` (a bottom-k sample when the
``max_train_rows`` tag is set); each task then fits on its window's rows and predicts its
block. What runs where is decided beforehand by a :class:`~infotrafic.backtest._plan.FastPlan`;
:func:`fast_tasks` only executes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import joblib
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import clone

from infotrafic.backtest._config import BacktestConfig
from infotrafic.backtest._plan import (
    HOUR_NS,
    FastPlan,
    TargetBlocks,
    arc_hour_keys,
    ns,
    time_mask,
)
from infotrafic.backtest._pool import TrainingPool, sample_keys, take_rows
from infotrafic.backtest._tasks import Step, fit_predict_chain, guarded, predict_features
from infotrafic.exceptions import BacktestError
from infotrafic.forecasters import ForecasterTags, TabularForecaster

__all__ = ["FeatureChunks", "fast_tasks"]

#: Feature columns assumed when a tabular forecaster's ``n_features`` tag is None.
N_FEATURES_UNKNOWN = 64
#: Shortest time chunk of the streaming fast path (history before the first cutoff).
CHUNK_NS = 30 * 24 * HOUR_NS


class FeatureChunks:
    """Time chunks of the streaming fast path and the feature rows built for each.

    The features of a row only read data at ``t - lead`` or earlier, never depend on the
    cutoff, and (given the ``lookback`` tag) only need the panel slice
    ``[lo - lookback - lead, hi)``: every row is built once, chunk by chunk. A table small
    enough (``whole_table_bytes``) is built in one go instead and sliced per chunk.
    """

    def __init__(
        self,
        model: TabularForecaster,
        tags: ForecasterTags,
        name: str,
        panel: pd.DataFrame,
        cfg: BacktestConfig,
        whole_table_bytes: int,
    ) -> None:
        self.model = model
        self.name = name
        self.panel = panel
        self.p_ns = ns(panel["time"])
        self.arcs = pd.Index(np.unique(panel["arc_id"].to_numpy(dtype="int64")))
        self.lookback = tags.lookback
        self.lead = cfg.lead
        self.targets = tags.accepts_targets
        # first and last hour of each arc (a validated panel is sorted by arc, then time)
        arc = panel["arc_id"].to_numpy(dtype="int64")
        hours = self.p_ns // HOUR_NS
        ends = np.flatnonzero(arc[1:] != arc[:-1]) + 1
        starts = np.concatenate([[0], ends]) if len(arc) else ends
        if len(starts) == len(self.arcs) and np.array_equal(arc[starts], self.arcs.to_numpy()):
            self.first = np.minimum.reduceat(hours, starts) if len(arc) else hours
            self.last = np.maximum.reduceat(hours, starts) if len(arc) else hours
        else:
            code = self.arcs.get_indexer(arc)
            span = pd.DataFrame({"c": code, "h": hours}).groupby("c")["h"].agg(["min", "max"])
            self.first = span["min"].to_numpy(dtype="int64")
            self.last = span["max"].to_numpy(dtype="int64")
        # A small table is built once and sliced: chunking only pays when memory is at stake.
        n_rows = int(np.maximum(self.last - self.first + 1, 0).sum()) if len(arc) else 0
        n_features = N_FEATURES_UNKNOWN if tags.n_features is None else tags.n_features
        self.end = cfg.end.value
        self.whole: tuple[pd.DataFrame, NDArray[np.int64]] | None = None
        self.small = n_rows * (n_features + 3) * 8 <= whole_table_bytes

    def edges(self, cfg: BacktestConfig) -> list[tuple[int, int, int | None]]:
        """``(lo, hi, refit index or None)`` chunks covering the panel up to ``end``."""
        out: list[tuple[int, int, int | None]] = []
        if len(self.p_ns):
            step = max(cfg.refit.value, CHUNK_NS)
            lo0 = int(self.p_ns.min())
            hist = []
            hi = cfg.start.value
            while hi > lo0:
                hist.append((max(hi - step, lo0), hi, None))
                hi -= step
            out += hist[::-1]
        for k, c in enumerate(cfg.cutoffs()):
            out.append((c.value, cfg.block_end(c).value, k))
        return out

    def _rows(self, lo: int, hi: int) -> pd.DataFrame:
        """Return the grid rows of ``[lo, hi)``: each arc's hours between its first and last row."""
        h0 = np.maximum(self.first, -(-lo // HOUR_NS))
        h1 = np.minimum(self.last, (hi - 1) // HOUR_NS)
        n = np.maximum(h1 - h0 + 1, 0)
        arc = np.repeat(self.arcs.to_numpy(dtype="int64"), n)
        offsets = np.repeat(np.cumsum(n) - n, n)
        hours = np.arange(int(n.sum()), dtype="int64") - offsets + np.repeat(h0, n)
        return pd.DataFrame({"arc_id": arc, "time": pd.DatetimeIndex(hours * HOUR_NS, tz="UTC")})

    def build(self, lo: int, hi: int) -> pd.DataFrame:
        """Feature rows of the grid hours in ``[lo, hi)``."""
        if not self.small:
            return self._build(lo, hi)
        if self.whole is None:
            X = self._build(int(self.p_ns.min()) if len(self.p_ns) else lo, self.end)
            self.whole = (X, ns(X["time"]))
        X, x_ns = self.whole
        return take_rows(X, np.flatnonzero((x_ns >= lo) & (x_ns < hi)))

    def _build(self, lo: int, hi: int) -> pd.DataFrame:
        keep = self.p_ns < hi
        if self.lookback is not None:
            keep &= self.p_ns >= lo - (self.lookback + self.lead) * HOUR_NS
        part = self.panel.loc[keep]
        try:
            if self.targets:
                rows = self._rows(lo, hi)
                X: pd.DataFrame = self.model.build_features(part, targets=rows)
                if len(X) != len(rows):
                    raise BacktestError(f"returned {len(X)} rows for {len(rows)} targets")
                return X
            X = self.model.build_features(part)
        except Exception as exc:  # any failure of the model's code is named, then re-raised
            raise BacktestError(
                f"model {self.name!r}: build_features failed: {type(exc).__name__}: {exc}"
            ) from exc
        x_ns = ns(X["time"])
        X = take_rows(X, np.flatnonzero((x_ns >= lo) & (x_ns < hi)))
        key = pd.Index(self.keys(X))
        if not key.is_unique:
            raise BacktestError(
                f"model {self.name!r}: build_features returned duplicated (arc_id, time) rows"
            )
        return X

    def keys(self, X: pd.DataFrame) -> NDArray[np.int64]:
        """Return the ``(arc, hour)`` keys of feature rows (sorted like ``(arc_id, time)``)."""
        return arc_hour_keys(X["arc_id"].to_numpy(), ns(X["time"]), self.arcs)


def fast_tasks(
    model: TabularForecaster,
    tags: ForecasterTags,
    name: str,
    panel: pd.DataFrame,
    blocks: TargetBlocks,
    cfg: BacktestConfig,
    whole_table_bytes: int,
) -> tuple[int, Iterator[Any]]:
    """Plan, then stream the fast path of one forecaster: one task per chain of blocks.

    Returns the number of tasks and their generator; each task returns ``(positions,
    predictions)``. The training rows of refit ``k`` are those of every earlier chunk with
    ``time <= cutoff - lead`` (and ``> lower`` with a sliding window); with a
    ``max_train_rows`` tag, a deterministic uniform sample of at most that many rows with a
    known ``y`` (bottom-k of a hash of arc, hour and the ``random_state`` tag; see
    :mod:`infotrafic.backtest._pool`), otherwise every row, exactly as a whole-panel build.
    """
    chunks = FeatureChunks(model, tags, name, panel, cfg, whole_table_bytes)
    plan = FastPlan.create(tags, blocks, cfg, small=chunks.small)
    target_keys = arc_hour_keys(
        blocks.targets["arc_id"].to_numpy(dtype="int64"), blocks.t_ns, chunks.arcs
    )
    if plan.whole_table:
        bounds = cfg.train_bounds(blocks.cutoffs[0])
        return 1, _whole_window_task(model, name, chunks, blocks.cutoffs[0], bounds, target_keys)
    return plan.n_tasks, _stream(model, name, chunks, plan, blocks, cfg, target_keys)


def _stream(
    model: TabularForecaster,
    name: str,
    chunks: FeatureChunks,
    plan: FastPlan,
    blocks: TargetBlocks,
    cfg: BacktestConfig,
    target_keys: NDArray[np.int64],
) -> Iterator[Any]:
    """Execute ``plan`` chunk by chunk (each chunk's rows join the pool before its task runs)."""
    pool = TrainingPool(
        list(plan.uppers), None if plan.lowers is None else list(plan.lowers), plan.max_rows
    )
    cutoffs = blocks.cutoffs
    fitted: TabularForecaster | None = None
    n_train = 0
    steps: list[Step] = []
    for lo, hi, k in chunks.edges(cfg):
        if not plan.builds(k):
            continue  # a refit-free model's empty block: nothing to build
        X = chunks.build(lo, hi)
        if plan.fit_once and k == 0:
            train = pool.training(0, empty=X.iloc[:0])
            n_train = len(train)
            fitted = _fit_once(model, train, name, cutoffs[0])
            del train
        task = None
        if k is not None and k in plan.spans:
            b0, b1 = plan.spans[k]
            pos = pd.Index(chunks.keys(X)).get_indexer(pd.Index(target_keys[b0:b1]))
            ok = np.flatnonzero(pos >= 0)
            rows, positions = take_rows(X, pos[ok]), b0 + ok
            if plan.fit_once:
                assert fitted is not None  # the plan fits at block 0, before any block
                task = joblib.delayed(predict_features)(
                    fitted, rows, n_train, name, cutoffs[k], positions, blocks.warmup[k]
                )
            else:
                train = pool.training(k, empty=X.iloc[:0])
                steps.append(Step(train, rows, cutoffs[k], positions, blocks.warmup[k]))
                if plan.closes_chain(k):
                    task = joblib.delayed(fit_predict_chain)(model, steps, name)
                    steps = []
                del train
            del rows
        # the chunk's rows join the pool before the block runs (they only serve later
        # refits), so that the chunk's table is freed while the model fits
        if plan.feeds_pool(k):
            if plan.max_rows is not None:
                X = take_rows(X, np.flatnonzero(X["y"].notna().to_numpy()))
            x_ns = ns(X["time"])
            key = sample_keys(X["arc_id"].to_numpy(dtype="int64"), x_ns // HOUR_NS, plan.seed)
            pool.add(X, x_ns, key, chunks.keys(X), 0 if k is None else k + 1)
        del X
        if task is not None:
            yield task
            del task


def _whole_window_task(
    model: TabularForecaster,
    name: str,
    chunks: FeatureChunks,
    cutoff: pd.Timestamp,
    bounds: tuple[pd.Timestamp | None, pd.Timestamp],
    target_keys: NDArray[np.int64],
) -> Iterator[Any]:
    """One task for a refit-free model on a small table: fit once, predict every target."""
    X = chunks.build(-(2**62), chunks.end)
    train = np.flatnonzero(time_mask(ns(X["time"]), *bounds))
    fitted = _fit_once(model, take_rows(X, train), name, cutoff)
    pos = pd.Index(chunks.keys(X)).get_indexer(pd.Index(target_keys))
    ok = np.flatnonzero(pos >= 0)
    n_train = len(train)
    yield joblib.delayed(predict_features)(fitted, take_rows(X, pos[ok]), n_train, name, cutoff, ok)


def _fit_once(
    model: TabularForecaster, train: pd.DataFrame, name: str, cutoff: pd.Timestamp
) -> TabularForecaster:
    """Fit a refit-free model once (a failure names the first block, as for any refit)."""
    m: TabularForecaster = clone(model, safe=False)

    def run() -> np.ndarray:
        m.fit_features(train)
        return np.empty(0)

    guarded(run, 0, len(train), name, cutoff)
    return m
