"""The Dask backend of :func:`~infotrafic.backtest.backtest`: shards run on a cluster.

How the work is cut (and why not by arcs)
-----------------------------------------
The ``gbm`` forecaster trains **one global model across arcs** (its training rows are a
deterministic bottom-k sample over every arc, :mod:`infotrafic.backtest._pool`), so a shard of
arcs would train a different model. The work is therefore cut by **horizon x model x run of
consecutive refit blocks**: a shard is an ordinary single-horizon, single-model backtest whose
window is a run of the original cutoffs. Its predictions are those of the local run because

* the model of refit block ``k`` depends only on the data and ``k``'s training window, never on
  the blocks before it (features are built once per row, independently of the cutoff; the
  training sample of a window is the bottom-k of that window's rows, whatever the chunking);
* with ``levels`` or ``state`` the forecasts are calibrated on each model's past errors over
  the whole run, so a model keeps its whole window (one shard per horizon and model);
* a model whose ``requires_refit`` tag is False is fitted once at the first cutoff: its shard
  keeps the whole window (one shard per horizon), so it is fitted at the same cutoff.

Where the data comes from
-------------------------
From a :class:`~infotrafic.etl.ParquetStore`, each shard reads what it needs on its worker
(:func:`~infotrafic.backtest._load.load_store`: its arcs up to the shard's end, a batch of arcs
at a time) and keeps only the validated copy: no panel goes through the client. An in-memory
panel (files, ``--sample``) is sent once, cut into pieces of arcs, each piece a small task of
its own that the shards depend on: a worker gets each piece once, whatever the number of
shards it runs, and a piece lost with a killed worker is recomputed from its task (scattered
data would be lost for good once Dask's memory manager has dropped its extra replicas).

Results come back as the local run's long frames, sorted the same way; the MASE scales are
those of the whole window (computed once, on a worker); ``timings`` add up each model's seconds
over its shards (compute time, not wall-clock time).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from infotrafic._dask import DaskTarget, dask_client, run_on_dask, send_data
from infotrafic.backtest._assemble import PERSISTENCE
from infotrafic.backtest._config import BacktestConfig
from infotrafic.backtest._engine import model_names, run_prepared
from infotrafic.backtest._load import load, prepare_data
from infotrafic.backtest._pool import take_rows
from infotrafic.backtest._report import seasonal_scales
from infotrafic.backtest._result import BacktestResult
from infotrafic.exceptions import BacktestError
from infotrafic.forecasters import requires_refit

__all__ = ["Shard", "run_distributed", "shards"]


@dataclasses.dataclass(frozen=True)
class Shard:
    """One unit of work: a model, one horizon and a run of consecutive refit blocks.

    Attributes
    ----------
    name : str
        The model's name in the output.
    model : object
        The forecaster (unfitted; cloned by the engine).
    config : BacktestConfig
        Single-horizon options whose ``[start, end)`` is the run of blocks.
    scales_from : pandas.Timestamp, optional
        Set on one shard only: it also computes the MASE scales before this time.
    """

    name: str
    model: Any
    config: BacktestConfig
    scales_from: pd.Timestamp | None = None


def shards(named: list[tuple[str, Any]], cfg: BacktestConfig, n_workers: int) -> list[Shard]:
    """Cut a backtest into shards: horizon x model x run of consecutive refit blocks.

    Each refitting model's blocks are cut into ``n_workers`` runs of (nearly) equal length
    (fewer when there are fewer blocks); a refit-free model keeps one run.

    Parameters
    ----------
    named : list of (str, forecaster)
        The named models (:func:`~infotrafic.backtest.model_names`).
    cfg : BacktestConfig
        The whole backtest's options.
    n_workers : int
        The cluster's workers.

    Returns
    -------
    list of Shard
        Ordered by horizon, model, then time; the first one computes the scales.

    Examples
    --------
    >>> from infotrafic.forecasters import GBMForecaster, NaiveForecaster
    >>> cfg = BacktestConfig.create(start="2023-06-01", end="2023-06-29", refit="7D")
    >>> out = shards([("naive", NaiveForecaster()), ("gbm", GBMForecaster())], cfg, 2)
    >>> [(s.name, str(s.config.start.date()), str(s.config.end.date())) for s in out]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('naive', '2023-05-31', '2023-06-28'), ('gbm', '2023-05-31', '2023-06-14'),
     ('gbm', '2023-06-14', '2023-06-28')]
    """
    cutoffs = cfg.cutoffs()
    out: list[Shard] = []
    for h in cfg.horizons:
        one = dataclasses.replace(cfg.at_horizon(h), n_jobs=1, progress=False)
        for name, model in named:
            split = requires_refit(model) and not cfg.calibrates
            runs = max(1, min(len(cutoffs), n_workers)) if split else 1
            size = math.ceil(len(cutoffs) / runs)
            firsts = cutoffs[::size]
            ends = [*firsts[1:], cfg.end]
            for lo, hi in zip(firsts, ends, strict=True):
                sub = dataclasses.replace(one, start=lo, end=hi)
                out.append(Shard(name, model, sub, cfg.start if not out else None))
    return out


#: An in-memory panel is sent in pieces of at most this many rows (and at least one per worker).
PIECE_ROWS = 2_000_000


def _pieces(data: pd.DataFrame, n_workers: int) -> list[pd.DataFrame]:
    """Cut a validated panel (sorted by arc, then time) into pieces of whole arcs."""
    arc = data["arc_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, arc[1:] != arc[:-1]]) if len(arc) else np.array([0])
    n = max(n_workers, -(-len(data) // PIECE_ROWS), 1)
    cuts = [int(starts[i]) for i in np.linspace(0, len(starts), n, endpoint=False).astype(int)]
    edges = sorted({c for c in cuts if c > 0}) + [len(data)]
    out, lo = [], 0
    for hi in edges:
        out.append(take_rows(data, np.arange(lo, hi)))
        lo = hi
    return out


def _data(source: Any, cfg: BacktestConfig) -> pd.DataFrame:
    """Return a shard's prepared panel: from the store on this worker, or the panel's pieces."""
    if isinstance(source, str):
        from infotrafic.etl import ParquetStore

        return load(ParquetStore(source), cfg)
    parts: list[pd.DataFrame] = list(source)
    return load(parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True), cfg)


def run_shard(source: Any, shard: Shard) -> dict[str, Any]:
    """Run one shard on a worker (a single-horizon, single-model backtest, serially).

    Parameters
    ----------
    source : str or list of pandas.DataFrame
        A store directory (read here, only the shard's arcs and times) or the panel's pieces.
    shard : Shard
        What to run.

    Returns
    -------
    dict
        ``predictions``, ``states`` (or None), ``timings`` and ``scales`` (or None): empty
        frames when the shard's window has nothing to score.
    """
    data = _data(source, shard.config)
    scales = None
    if shard.scales_from is not None:
        scales = seasonal_scales(data, shard.scales_from)
    try:
        res = run_prepared(data, model_names({shard.name: shard.model}), shard.config)
    except BacktestError as exc:
        if not str(exc).startswith("no observed"):
            raise
        # the local run scores other blocks; this run of blocks simply has no target
        return {"predictions": None, "states": None, "timings": {}, "scales": scales}
    return {
        "predictions": res.predictions,
        "states": res.states,
        "timings": res.timings,
        "scales": scales,
    }


def _ordered(frames: list[pd.DataFrame], cfg: BacktestConfig, names: list[str]) -> pd.DataFrame:
    """Concatenate shard frames into the local run's order: horizon, model, arc, time."""
    both = pd.concat(frames, ignore_index=True)
    model = pd.Categorical(both["model"].astype(str), categories=names)
    both["model"] = model
    h_rank = pd.Index(cfg.horizons).get_indexer(pd.Index(both["horizon"]))
    t_ns = pd.DatetimeIndex(both["time"]).as_unit("ns").asi8
    order = np.lexsort((t_ns, both["arc_id"].to_numpy(), model.codes, h_rank))
    return take_rows(both, order)


def _merge(
    outs: list[tuple[int, dict[str, Any]]],
    plan: list[Shard],
    named: list[tuple[str, Any]],
    cfg: BacktestConfig,
) -> BacktestResult:
    names = [n for n, _ in named]
    preds, states, timings = [], [], dict.fromkeys(names, 0.0)
    scales = None
    first_state: dict[int, str] = {}
    for i, out in sorted(outs, key=lambda pair: pair[0]):
        shard = plan[i]
        h = shard.config.horizon
        if out["scales"] is not None:
            scales = out["scales"]
        timings[shard.name] += float(out["timings"].get(shard.name, 0.0))
        if out["predictions"] is not None:
            preds.append(out["predictions"])
        st = out["states"]
        if st is not None:
            # every shard adds the same persistence rows: keep one model's
            keep_persistence = first_state.setdefault(h, shard.name) == shard.name
            if not keep_persistence:
                st = take_rows(st, np.flatnonzero((st["model"] != PERSISTENCE).to_numpy()))
            states.append(st)
    if not preds:
        raise BacktestError(
            f"no observed flow to score between {cfg.start} and {cfg.end}; "
            "check --start/--end and the arcs"
        )
    predictions = _ordered(preds, cfg, names)
    state_frame = None
    if states:
        st_names = [n for n in names if any((s["model"] == n).any() for s in states)]
        state_frame = _ordered(states, cfg, [*st_names, PERSISTENCE])
    return BacktestResult(
        predictions=predictions,
        config=cfg,
        timings=timings,
        scales=scales,
        states=state_frame,
    )


def _calls(source: Any, plan: list[Shard]) -> Iterator[tuple[Any, tuple[Any, ...], dict[str, Any]]]:
    for i, shard in enumerate(plan):
        yield _indexed, (i, source, shard), {}


def _indexed(i: int, source: Any, shard: Shard) -> tuple[int, dict[str, Any]]:
    return i, run_shard(source, shard)


def run_distributed(
    panel: Any,
    named: list[tuple[str, Any]],
    cfg: BacktestConfig,
    scheduler: DaskTarget,
) -> BacktestResult:
    """Run a backtest on a Dask cluster and assemble the local run's result.

    Parameters
    ----------
    panel : pandas.DataFrame or ParquetStore or path
        The data: a store is read on the workers, a frame is sent once, in pieces of arcs.
    named : list of (str, forecaster)
        The named models.
    cfg : BacktestConfig
        The options.
    scheduler : str or distributed.Client
        Anything :func:`infotrafic._dask.dask_client` accepts.

    Returns
    -------
    BacktestResult
    """
    with dask_client(scheduler) as connected:
        client: Any = connected
        # one run of blocks per thread of the cluster (workers run one task per thread)
        n_workers = max(1, sum(client.nthreads().values()))
        plan = shards(named, cfg, n_workers)
        if isinstance(panel, pd.DataFrame):
            data = prepare_data(panel, cfg)
            source: Any = [send_data(client, part) for part in _pieces(data, n_workers)]
            del data
        else:
            source = str(Path(panel.path).resolve())
        outs = list(
            run_on_dask(
                client,
                _calls(source, plan),
                total=len(plan),
                progress=cfg.progress,
                desc="backtest",
            )
        )
    return _merge(outs, plan, named, cfg)
