"""The rolling-origin backtest engine: forecasters in, long prediction frame and report out.

Backtesting lives here, outside the model classes: the engine only relies on the forecaster
contract (:class:`~infotrafic.forecasters.Forecaster`, and
:class:`~infotrafic.forecasters.TabularForecaster` for the fast path) and reads what a model
can do from its tags (:func:`~infotrafic.forecasters.get_tags`) alone: the targets it
forecasts, whether it is refitted per block, the fast path and its sampling
(:mod:`infotrafic.backtest._fastpath`, planned by :mod:`infotrafic.backtest._plan`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time as _time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone

from infotrafic.backtest._assemble import PointForecasts, prediction_frame, state_frame
from infotrafic.backtest._config import BacktestConfig
from infotrafic.backtest._fastpath import fast_tasks
from infotrafic.backtest._load import load
from infotrafic.backtest._plan import HOUR_NS, TargetBlocks, ns, time_mask
from infotrafic.backtest._report import seasonal_scales
from infotrafic.backtest._result import BacktestResult
from infotrafic.backtest._tasks import fit_predict_panel, run_tasks
from infotrafic.exceptions import BacktestError, ConfigurationError
from infotrafic.forecasters import Forecaster, ForecasterTags, TabularForecaster, get_tags

if TYPE_CHECKING:
    from infotrafic.etl import ParquetStore

__all__ = ["model_names", "run_local", "run_prepared"]

#: Feature tables up to this size (estimated, float64) are built in one go, then sliced.
_WHOLE_TABLE_BYTES = 256 * 2**20


logger = logging.getLogger("infotrafic.backtest")


def _snake(name: str) -> str:
    name = re.sub(r"Forecaster$", "", name) or name
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return s.lower()


def model_names(
    models: Mapping[str, Forecaster] | Sequence[Forecaster],
) -> list[tuple[str, Forecaster]]:
    """Name the models of a backtest: mapping keys, else a ``name`` attribute or the class name.

    Class names lose a ``Forecaster`` suffix and become snake case (``SeasonalNaiveForecaster``
    -> ``seasonal_naive``); repeated names get ``_2``, ``_3``, ... suffixes.

    Parameters
    ----------
    models : mapping of str to forecaster, or sequence of forecasters
        The models given to :func:`backtest`.

    Returns
    -------
    list of (str, forecaster)

    Examples
    --------
    >>> class SeasonalNaiveForecaster:
    ...     pass
    >>> [n for n, _ in model_names([SeasonalNaiveForecaster(), SeasonalNaiveForecaster()])]
    ['seasonal_naive', 'seasonal_naive_2']
    """
    if isinstance(models, Mapping):
        pairs = [(str(k), v) for k, v in models.items()]
    else:
        pairs = []
        for m in models:
            name = getattr(m, "name", None)
            pairs.append((name if isinstance(name, str) and name else _snake(type(m).__name__), m))
    if not pairs:
        raise ConfigurationError("backtest needs at least one model")
    seen: dict[str, int] = {}
    out = []
    for name, m in pairs:
        seen[name] = seen.get(name, 0) + 1
        out.append((name if seen[name] == 1 else f"{name}_{seen[name]}", m))
    return out


def _prepare(model: Forecaster, cfg: BacktestConfig, column: str = "flow") -> Forecaster | None:
    """Clone a model; align its ``horizon``/``delay``/``target`` with the backtest's.

    Returns None when the model's ``targets`` tag does not include ``column`` (it cannot
    forecast that series).
    """
    if column not in get_tags(model).targets:
        return None
    m: Forecaster = clone(model, safe=False)
    # an object short of the protocol (no get_params) has no hyper-parameters to align
    params = m.get_params(deep=False) if isinstance(m, Forecaster) else {}
    wanted = (("horizon", cfg.horizon), ("delay", cfg.delay), ("target", column))
    update = {k: v for k, v in wanted if k in params}
    if update:
        m.set_params(**update)
    return m


def _history(panel: pd.DataFrame, p_ns: np.ndarray, last: int, lead_ns: int) -> pd.DataFrame:
    """Panel rows up to the block's last target; values no target of the block may use are NA.

    Rows after a target's origin stay in the frame (so that target rows exist on the hourly
    grid), as the forecaster contract allows; the model must not use them. Values newer than the
    block's last origin are blanked: no forecast of the block may use them.
    """
    history = panel.loc[p_ns <= last].copy()
    hidden = p_ns[p_ns <= last] > last - lead_ns
    for col in ("flow", "occupancy", "traffic_state", "closure_state"):
        if col in history.columns:
            history.loc[hidden, col] = pd.NA if col.endswith("state") else np.nan
    return history


def _panel_tasks(
    model: Forecaster,
    tags: ForecasterTags,
    name: str,
    panel: pd.DataFrame,
    blocks: TargetBlocks,
    cfg: BacktestConfig,
) -> tuple[int, Iterator[Any]]:
    """One ``fit``/``predict`` task per refit block (one for the whole window if fitted once)."""
    p_ns = ns(panel["time"])
    if not tags.requires_refit:
        groups = [(blocks.cutoffs[0], 0, len(blocks.targets), False)]
    else:
        groups = [(c, b0, b1, blocks.warmup[k]) for k, c, b0, b1 in blocks.blocks()]
    lead_ns = cfg.lead * HOUR_NS

    def gen() -> Iterator[Any]:
        for c, b0, b1, warmup in groups:
            lower, upper = cfg.train_bounds(c)
            train = panel.loc[time_mask(p_ns, lower, upper)]
            history = _history(panel, p_ns, int(blocks.t_ns[b1 - 1]), lead_ns)
            targets = blocks.targets.iloc[b0:b1][["arc_id", "time"]].reset_index(drop=True)
            positions = np.arange(b0, b1)
            yield joblib.delayed(fit_predict_panel)(
                model, train, history, targets, name, c, positions, warmup
            )

    return len(groups), gen()


def run_local(
    panel: pd.DataFrame | ParquetStore,
    named: list[tuple[str, Forecaster]],
    cfg: BacktestConfig,
) -> BacktestResult:
    """Run a backtest in this process (and its joblib workers): :func:`backtest` without Dask.

    Parameters
    ----------
    panel : pandas.DataFrame or ParquetStore
        The data (a store is read for the config's arcs, up to its end, a batch of arcs at a
        time: :func:`~infotrafic.backtest._load.load_store`).
    named : list of (str, Forecaster)
        The models, named (:func:`model_names`).
    cfg : BacktestConfig
        The schedule.

    Returns
    -------
    BacktestResult
    """
    return run_prepared(load(panel, cfg), named, cfg)


def run_prepared(
    data: pd.DataFrame, named: list[tuple[str, Forecaster]], cfg: BacktestConfig
) -> BacktestResult:
    """Run a backtest on a panel already prepared (:func:`prepare_data`): :func:`run_local`.

    Parameters
    ----------
    data : pandas.DataFrame
        The panel :func:`prepare_data` returned for ``cfg`` (used as is, never mutated).
    named : list of (str, Forecaster)
        The models, named (:func:`model_names`).
    cfg : BacktestConfig
        The schedule.

    Returns
    -------
    BacktestResult
    """
    columns = ["flow", *(["occupancy"] if cfg.state else [])]
    if cfg.state and not data["occupancy"].notna().any():
        raise BacktestError(
            "state=True needs occupancy data and the panel has none; drop --state or give "
            "data with occupancy (k)"
        )

    timings: dict[str, float] = {}
    frames: list[pd.DataFrame] = []
    states: list[pd.DataFrame] = []
    from tqdm.auto import tqdm

    logger.info(
        "backtest: %d model(s) x %s, horizons %s h, %d refit(s) of %s from %s to %s, %d arcs, "
        "%d workers",
        len(named),
        "/".join(columns),
        ",".join(str(h) for h in cfg.horizons),
        len(cfg.cutoffs()),
        cfg.refit,
        cfg.start,
        cfg.end,
        data["arc_id"].nunique(),
        cfg.workers,
    )

    with tqdm(total=0, disable=not cfg.progress, desc="backtest", unit="fit") as bar:
        for h in cfg.horizons:
            one = cfg.at_horizon(h)
            warm = dataclasses.replace(one, start=one.warmup_start())
            for column in columns:
                # Warm-up forecasts only serve as past errors: of the flow for its intervals
                # (levels), of the occupancy for the state probabilities. Without levels the
                # flow's would be thrown away, so they are not made (a block's model does not
                # depend on the blocks before it: the scored forecasts are the same).
                run = warm if column != "flow" or cfg.levels else one
                f = _point_forecasts(data, named, run, column, cfg.start, bar, timings)
                if column == "flow":
                    frames.append(prediction_frame(f, data, one))
                else:
                    states.append(state_frame(f, data, one))

    predictions = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    scales = seasonal_scales(data, cfg.start)
    for name, seconds in timings.items():
        logger.info("backtest: %s fitted and predicted in %.1f s", name, seconds)
    return BacktestResult(
        predictions=predictions,
        config=cfg,
        timings=timings,
        scales=scales,
        states=pd.concat(states, ignore_index=True) if states else None,
    )


def _point_forecasts(
    data: pd.DataFrame,
    named: list[tuple[str, Forecaster]],
    cfg: BacktestConfig,
    column: str,
    scored_from: pd.Timestamp,
    bar: Any,
    timings: dict[str, float],
) -> PointForecasts:
    """Run every model able to forecast ``column`` at ``cfg.horizon`` over ``cfg``'s window."""
    blocks = TargetBlocks(data, cfg, column, scored_from)
    jobs = []
    for name, model in named:
        m = _prepare(model, cfg, column)
        if m is not None:
            jobs.append((name, m, get_tags(m)))
    if not jobs:
        raise BacktestError(
            f"no model can forecast the {column}: a forecaster needs {column!r} in its targets "
            "tag (infotrafic.forecasters.get_tags; the built-in ones have it)"
        )
    preds = np.full((len(jobs), len(blocks.targets)), np.nan, dtype="float64")
    for i, (name, m, tags) in enumerate(jobs):
        t0 = _time.perf_counter()
        bar.set_postfix_str(f"{name} {column} h={cfg.horizon}")
        if tags.tabular:
            tabular = cast("TabularForecaster", m)
            n_tasks, tasks = fast_tasks(tabular, tags, name, data, blocks, cfg, _WHOLE_TABLE_BYTES)
        else:
            n_tasks, tasks = _panel_tasks(m, tags, name, data, blocks, cfg)
        bar.total += n_tasks
        bar.refresh()
        # A single task runs here: a worker would first import what this process already has
        # (seconds, for a refit-free baseline that predicts in milliseconds).
        for positions, out in run_tasks(tasks, cfg.workers if n_tasks > 1 else 1):
            preds[i, positions] = out
            bar.update(1)
        timings[name] = timings.get(name, 0.0) + _time.perf_counter() - t0
    fitted_at = np.array([c.value for c in blocks.cutoffs], dtype="int64")[blocks.block]
    return PointForecasts(
        column=column,
        targets=blocks.targets,
        fitted_at=fitted_at,
        names=[name for name, _, _ in jobs],
        preds=preds,
    )
