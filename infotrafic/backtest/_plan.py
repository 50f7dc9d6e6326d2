"""What a backtest run will do, decided before any work: the target blocks and the fast-path plan.

:class:`TargetBlocks` lists the scored targets and cuts them into refit blocks;
:class:`FastPlan` says, for one tabular forecaster, from its tags
(:func:`~infotrafic.forecasters.get_tags`) alone: whether it is fitted once or per block,
the training window of each fit (the training pool's bounds), the sampling of training rows,
and which blocks run together in one task (a *chain*: today every refit block is its own
chain; a chain of several blocks hands each block's fitted model to the next, the hook for
models updated cheaply between full refits). The task generator of
:mod:`infotrafic.backtest._fastpath` only executes the plan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from infotrafic.backtest._config import BacktestConfig
from infotrafic.exceptions import BacktestError
from infotrafic.forecasters import ForecasterTags

__all__ = ["HOUR_NS", "FastPlan", "TargetBlocks", "arc_hour_keys", "ns", "time_mask"]

HOUR_NS = 3_600_000_000_000


def ns(values: pd.Series | pd.DatetimeIndex) -> NDArray[np.int64]:
    """Return UTC nanoseconds since the epoch as int64 (tz-aware or naive-UTC input)."""
    idx = pd.DatetimeIndex(values)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return np.asarray(idx.as_unit("ns").asi8, dtype="int64")


def time_mask(
    t_ns: NDArray[np.int64], lower: pd.Timestamp | None, upper: pd.Timestamp
) -> NDArray[np.bool_]:
    """Rows of a training window: ``lower < time <= upper`` (no lower bound when None)."""
    mask = t_ns <= upper.value
    if lower is not None:
        mask &= t_ns > lower.value
    return mask


def arc_hour_keys(
    arc: NDArray[np.int64], t_ns: NDArray[np.int64], codes: pd.Index
) -> NDArray[np.int64]:
    """One int64 key per ``(arc, hour)`` row, sorted like ``(arc_id, time)`` for known arcs."""
    code = np.asarray(codes.get_indexer(pd.Index(arc)), dtype="int64")
    hours = np.asarray(t_ns // HOUR_NS - 300_000, dtype="int64")
    return np.asarray((code << 32) | hours, dtype="int64")


class TargetBlocks:
    """Targets sorted by time, cut into refit blocks (positions into the target arrays).

    The targets are the hours of ``[cfg.start, cfg.end)`` where ``column`` is observed; their
    value is in column ``y`` of :attr:`targets`. Blocks starting before ``scored_from`` are
    calibration warm-up blocks (see :meth:`BacktestConfig.warmup_start`).

    Parameters
    ----------
    panel : pandas.DataFrame
        The validated panel.
    cfg : BacktestConfig
        Single-horizon options.
    column : str, default "flow"
        The forecast series.
    scored_from : pandas.Timestamp, optional
        Start of the scored window (default ``cfg.start``).
    """

    def __init__(
        self,
        panel: pd.DataFrame,
        cfg: BacktestConfig,
        column: str = "flow",
        scored_from: pd.Timestamp | None = None,
    ) -> None:
        t_ns = ns(panel["time"])
        start, end = cfg.start.value, cfg.end.value
        mask = (t_ns >= start) & (t_ns < end) & panel[column].notna().to_numpy()
        if not mask.any():
            raise BacktestError(
                f"no observed {column} to score between {cfg.start} and {cfg.end} "
                f"(panel covers {panel['time'].min()} -> {panel['time'].max()}); "
                "check --start/--end and the arcs"
            )
        tg = panel.loc[mask, ["arc_id", "time", column]].rename(columns={column: "y"})
        order = np.lexsort((tg["arc_id"].to_numpy(), ns(tg["time"])))
        self.targets = tg.iloc[order].reset_index(drop=True)
        self.t_ns = ns(self.targets["time"])
        self.cutoffs = cfg.cutoffs()
        edges = np.array([c.value for c in self.cutoffs] + [end], dtype="int64")
        self.bounds = np.searchsorted(self.t_ns, edges, side="left")
        self.block = np.searchsorted(edges, self.t_ns, side="right") - 1
        first = cfg.start if scored_from is None else scored_from
        self.warmup = [c < first for c in self.cutoffs]

    def blocks(self) -> Iterator[tuple[int, pd.Timestamp, int, int]]:
        """Yield ``(k, cutoff, b0, b1)`` for each block holding targets ``[b0, b1)``."""
        for k, c in enumerate(self.cutoffs):
            b0, b1 = int(self.bounds[k]), int(self.bounds[k + 1])
            if b1 > b0:
                yield k, c, b0, b1


@dataclasses.dataclass(frozen=True)
class FastPlan:
    """The fast path of one tabular forecaster over one window (see the module docstring).

    Attributes
    ----------
    fit_once : bool
        Fitted once, on the first training window, then predicting block by block
        (``requires_refit`` tag false); else fitted per refit block.
    uppers : tuple of int
        Upper bound (ns, inclusive) of the training window of each fit.
    lowers : tuple of int, optional
        Their lower bounds (ns, exclusive) with a sliding window; None when expanding.
    spans : mapping of int to (int, int)
        Block index -> its target positions ``[b0, b1)`` (blocks holding targets only).
    chains : tuple of tuple of int
        The blocks each task runs, in order (each fitted block alone today).
    max_rows : int, optional
        Training rows kept per window (bottom-k sample; ``max_train_rows`` tag).
    seed : int
        Seed of that sample (``random_state`` tag).
    whole_table : bool
        One task: a fit-once model on a small table without sampling is fitted and predicts
        every target from one feature table.
    """

    fit_once: bool
    uppers: tuple[int, ...]
    lowers: tuple[int, ...] | None
    spans: Mapping[int, tuple[int, int]]
    chains: tuple[tuple[int, ...], ...]
    max_rows: int | None
    seed: int
    whole_table: bool

    @classmethod
    def create(
        cls, tags: ForecasterTags, blocks: TargetBlocks, cfg: BacktestConfig, *, small: bool
    ) -> FastPlan:
        """Plan a forecaster's run from its tags.

        Parameters
        ----------
        tags : ForecasterTags
            The configured forecaster's tags.
        blocks : TargetBlocks
            The targets and their blocks.
        cfg : BacktestConfig
            Single-horizon options.
        small : bool
            Whether the whole feature table fits in memory at once.

        Returns
        -------
        FastPlan
        """
        once = not tags.requires_refit
        cutoffs = cfg.cutoffs()
        bounds = [cfg.train_bounds(c) for c in (cutoffs[:1] if once else cutoffs)]
        lowers = None
        if cfg.train_size is not None:
            lowers = tuple(lo.value for lo, _ in bounds if lo is not None)
        spans = {k: (b0, b1) for k, _, b0, b1 in blocks.blocks()}
        return cls(
            fit_once=once,
            uppers=tuple(u.value for _, u in bounds),
            lowers=lowers,
            spans=spans,
            chains=tuple((k,) for k in sorted(spans)),
            max_rows=tags.max_train_rows,
            seed=tags.random_state,
            whole_table=once and small and tags.max_train_rows is None and bool(spans),
        )

    @property
    def n_tasks(self) -> int:
        """Number of tasks the run yields."""
        if self.whole_table:
            return 1
        return len(self.spans) if self.fit_once else len(self.chains)

    def builds(self, k: int | None) -> bool:
        """Whether the chunk of block ``k`` (None: history) needs its feature rows built."""
        return k is None or k < len(self.uppers) or k in self.spans

    def feeds_pool(self, k: int | None) -> bool:
        """Whether the rows of chunk ``k`` can serve a later fit's training window."""
        return (0 if k is None else k + 1) < len(self.uppers)

    def closes_chain(self, k: int) -> bool:
        """Whether block ``k`` is the last of its chain (its task is then complete)."""
        return any(chain[-1] == k for chain in self.chains)
