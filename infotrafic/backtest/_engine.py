"""The rolling-origin backtest engine: forecasters in, long prediction frame and report out.

Backtesting lives here, outside the model classes: the engine only relies on the forecaster
contract (``fit``/``predict``, plus the tabular fast path ``build_features``/``fit_features``/
``predict_features`` when a model has it).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import re
import time as _time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone

from infotrafic._schema import validate_panel
from infotrafic._types import DurationLike, TimeLike
from infotrafic.backtest._assemble import PointForecasts, prediction_frame, state_frame
from infotrafic.backtest._config import BacktestConfig
from infotrafic.backtest._pool import TrainingPool, sample_keys, take_rows
from infotrafic.backtest._report import seasonal_scales
from infotrafic.backtest._result import BacktestResult
from infotrafic.backtest._tasks import (
    fit_predict_features,
    fit_predict_panel,
    guarded,
    predict_features,
    run_tasks,
)
from infotrafic.exceptions import BacktestError, ConfigurationError
from infotrafic.forecasters import requires_refit

if TYPE_CHECKING:
    from infotrafic.etl import ParquetStore

__all__ = ["backtest", "model_names", "prepare_data"]

_HOUR_NS = 3_600_000_000_000
_FAST = ("build_features", "fit_features", "predict_features")
#: Shortest time chunk of the streaming fast path (history before the first cutoff).
_CHUNK_NS = 30 * 24 * _HOUR_NS
#: Feature tables up to this size (estimated, float64) are built in one go, then sliced.
_WHOLE_TABLE_BYTES = 256 * 2**20


logger = logging.getLogger("infotrafic.backtest")


def _ns(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Return UTC nanoseconds since the epoch as int64 (tz-aware or naive-UTC input)."""
    idx = pd.DatetimeIndex(values)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return np.asarray(idx.as_unit("ns").asi8, dtype="int64")


def _snake(name: str) -> str:
    name = re.sub(r"Forecaster$", "", name) or name
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return s.lower()


def model_names(models: Mapping[str, Any] | Sequence[Any]) -> list[tuple[str, Any]]:
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


def _has_fast_path(model: Any) -> bool:
    return all(callable(getattr(model, attr, None)) for attr in _FAST)


def _prepare(model: Any, cfg: BacktestConfig, column: str = "flow") -> Any:
    """Clone a model; align its ``horizon``/``delay``/``target`` with the backtest's.

    Returns None when ``column`` is not the flow and the model has no ``target``
    hyper-parameter (it can only forecast the flow).
    """
    m = clone(model, safe=False)
    get_params = getattr(m, "get_params", None)
    params = get_params(deep=False) if callable(get_params) else {}
    if column != "flow" and "target" not in params:
        return None
    wanted = (("horizon", cfg.horizon), ("delay", cfg.delay), ("target", column))
    update = {k: v for k, v in wanted if k in params}
    if update:
        m.set_params(**update)
    return m


class _Plan:
    """Targets sorted by time, cut into refit blocks (positions into the target arrays).

    The targets are the hours of ``[cfg.start, cfg.end)`` where ``column`` is observed; their
    value is in column ``y`` of :attr:`targets`. Blocks starting before ``scored_from`` are
    calibration warm-up blocks (see :meth:`BacktestConfig.warmup_start`).
    """

    def __init__(
        self,
        panel: pd.DataFrame,
        cfg: BacktestConfig,
        column: str = "flow",
        scored_from: pd.Timestamp | None = None,
    ) -> None:
        t_ns = _ns(panel["time"])
        start, end = cfg.start.value, cfg.end.value
        mask = (t_ns >= start) & (t_ns < end) & panel[column].notna().to_numpy()
        if not mask.any():
            raise BacktestError(
                f"no observed {column} to score between {cfg.start} and {cfg.end} "
                f"(panel covers {panel['time'].min()} -> {panel['time'].max()}); "
                "check --start/--end and the arcs"
            )
        tg = panel.loc[mask, ["arc_id", "time", column]].rename(columns={column: "y"})
        order = np.lexsort((tg["arc_id"].to_numpy(), _ns(tg["time"])))
        self.targets = tg.iloc[order].reset_index(drop=True)
        self.t_ns = _ns(self.targets["time"])
        self.cutoffs = cfg.cutoffs()
        edges = np.array([c.value for c in self.cutoffs] + [end], dtype="int64")
        self.bounds = np.searchsorted(self.t_ns, edges, side="left")
        self.block = np.searchsorted(edges, self.t_ns, side="right") - 1
        first = cfg.start if scored_from is None else scored_from
        self.warmup = [c < first for c in self.cutoffs]

    def blocks(self) -> Iterator[tuple[int, pd.Timestamp, int, int]]:
        for k, c in enumerate(self.cutoffs):
            b0, b1 = int(self.bounds[k]), int(self.bounds[k + 1])
            if b1 > b0:
                yield k, c, b0, b1


def _time_mask(t_ns: np.ndarray, lower: pd.Timestamp | None, upper: pd.Timestamp) -> np.ndarray:
    mask = t_ns <= upper.value
    if lower is not None:
        mask &= t_ns > lower.value
    return mask


def _keys(arc: np.ndarray, t_ns: np.ndarray, codes: pd.Index) -> np.ndarray:
    code = np.asarray(codes.get_indexer(pd.Index(arc)), dtype="int64")
    hours = np.asarray(t_ns // _HOUR_NS - 300_000, dtype="int64")
    return np.asarray((code << 32) | hours, dtype="int64")


def _lookback(model: Any) -> int | None:
    """Hours of history the model's features read before a target (None: unknown/unbounded)."""
    spec_fn = getattr(model, "feature_spec", None)
    if not callable(spec_fn):
        return None
    try:
        fn = getattr(spec_fn(), "lookback", None)
        value = fn() if callable(fn) else None
    except Exception:  # a model that cannot describe its features: use the whole history
        return None
    return None if value is None else int(value)


def _n_features(model: Any) -> int:
    """Return the number of feature columns the model builds (64 when it cannot tell)."""
    try:
        return len(model.feature_spec().feature_names())
    except Exception:
        return 64


def _accepts_targets(model: Any) -> bool:
    try:
        params = inspect.signature(model.build_features).parameters
    except (TypeError, ValueError):
        return False
    return "targets" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _int_attr(model: Any, attr: str) -> int | None:
    value = getattr(model, attr, None)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        return None
    return int(value)


class _Chunks:
    """Time chunks of the streaming fast path and the feature rows built for each.

    The features of a row only read data at ``t - lead`` or earlier, never depend on the
    cutoff, and (given the model's ``lookback``) only need the panel slice
    ``[lo - lookback - lead, hi)``: every row is built once, chunk by chunk. A table small
    enough (``_WHOLE_TABLE_BYTES``) is built in one go instead and sliced per chunk.
    """

    def __init__(self, model: Any, name: str, panel: pd.DataFrame, cfg: BacktestConfig) -> None:
        self.model = model
        self.name = name
        self.panel = panel
        self.p_ns = _ns(panel["time"])
        self.arcs = pd.Index(np.unique(panel["arc_id"].to_numpy(dtype="int64")))
        self.lookback = _lookback(model)
        self.lead = cfg.lead
        self.targets = _accepts_targets(model)
        # first and last hour of each arc (a validated panel is sorted by arc, then time)
        arc = panel["arc_id"].to_numpy(dtype="int64")
        hours = self.p_ns // _HOUR_NS
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
        self.end = cfg.end.value
        self.whole: tuple[pd.DataFrame, np.ndarray] | None = None
        self.small = n_rows * (_n_features(model) + 3) * 8 <= _WHOLE_TABLE_BYTES

    def edges(self, cfg: BacktestConfig) -> list[tuple[int, int, int | None]]:
        """``(lo, hi, refit index or None)`` chunks covering the panel up to ``end``."""
        out: list[tuple[int, int, int | None]] = []
        if len(self.p_ns):
            step = max(cfg.refit.value, _CHUNK_NS)
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
        h0 = np.maximum(self.first, -(-lo // _HOUR_NS))
        h1 = np.minimum(self.last, (hi - 1) // _HOUR_NS)
        n = np.maximum(h1 - h0 + 1, 0)
        arc = np.repeat(self.arcs.to_numpy(dtype="int64"), n)
        offsets = np.repeat(np.cumsum(n) - n, n)
        hours = np.arange(int(n.sum()), dtype="int64") - offsets + np.repeat(h0, n)
        return pd.DataFrame({"arc_id": arc, "time": pd.DatetimeIndex(hours * _HOUR_NS, tz="UTC")})

    def build(self, lo: int, hi: int) -> pd.DataFrame:
        """Feature rows of the grid hours in ``[lo, hi)``."""
        if not self.small:
            return self._build(lo, hi)
        if self.whole is None:
            X = self._build(int(self.p_ns.min()) if len(self.p_ns) else lo, self.end)
            self.whole = (X, _ns(X["time"]))
        X, x_ns = self.whole
        return take_rows(X, np.flatnonzero((x_ns >= lo) & (x_ns < hi)))

    def _build(self, lo: int, hi: int) -> pd.DataFrame:
        keep = self.p_ns < hi
        if self.lookback is not None:
            keep &= self.p_ns >= lo - (self.lookback + self.lead) * _HOUR_NS
        part = self.panel.loc[keep]
        try:
            if self.targets:
                rows = self._rows(lo, hi)
                X: pd.DataFrame = self.model.build_features(part, targets=rows)
                if len(X) != len(rows):
                    raise BacktestError(f"returned {len(X)} rows for {len(rows)} targets")
                return X
            X = self.model.build_features(part)
        except Exception as exc:
            raise BacktestError(
                f"model {self.name!r}: build_features failed: {type(exc).__name__}: {exc}"
            ) from exc
        x_ns = _ns(X["time"])
        X = take_rows(X, np.flatnonzero((x_ns >= lo) & (x_ns < hi)))
        key = pd.Index(self.keys(X))
        if not key.is_unique:
            raise BacktestError(
                f"model {self.name!r}: build_features returned duplicated (arc_id, time) rows"
            )
        return X

    def keys(self, X: pd.DataFrame) -> np.ndarray:
        """Return the ``(arc, hour)`` keys of feature rows (sorted like ``(arc_id, time)``)."""
        return _keys(X["arc_id"].to_numpy(), _ns(X["time"]), self.arcs)


def _fast_tasks(
    model: Any, name: str, panel: pd.DataFrame, plan: _Plan, cfg: BacktestConfig
) -> tuple[int, Iterator[Any]]:
    """Stream the fast path: features chunk by chunk, a bounded training pool, one task a block.

    Returns the number of tasks and their generator; each task returns ``(positions,
    predictions)``. The training rows of refit ``k`` are those of every earlier chunk with
    ``time <= cutoff - lead`` (and ``> lower`` with a sliding window); a model with an integer
    ``max_train_rows`` gets a deterministic uniform sample of at most that many rows with a
    known ``y`` (bottom-k of a hash of arc, hour and the model's ``random_state``; see
    :mod:`infotrafic.backtest._pool`), otherwise every row, exactly as a whole-panel build.
    """
    chunks = _Chunks(model, name, panel, cfg)
    once = not requires_refit(model)
    cutoffs = cfg.cutoffs()
    bounds = [cfg.train_bounds(c) for c in (cutoffs[:1] if once else cutoffs)]
    uppers = [u.value for _, u in bounds]
    lowers = None if cfg.train_size is None else [lo.value for lo, _ in bounds if lo is not None]
    max_rows = _int_attr(model, "max_train_rows")
    seed = _int_attr(model, "random_state") or 0
    spans = {k: (b0, b1) for k, _, b0, b1 in plan.blocks()}
    n_tasks = len(spans)
    target_keys = _keys(plan.targets["arc_id"].to_numpy(), plan.t_ns, chunks.arcs)
    if once and chunks.small and max_rows is None and spans:
        return 1, _whole_window_task(model, name, chunks, cutoffs[0], bounds[0], target_keys)

    def gen() -> Iterator[Any]:
        pool = TrainingPool(uppers, lowers, max_rows)
        fitted: Any = None
        n_train = 0
        for lo, hi, k in chunks.edges(cfg):
            if k is not None and k >= len(uppers) and k not in spans:
                continue  # a refit-free model's empty block: nothing to build
            X = chunks.build(lo, hi)
            train = None
            if k is not None and k in spans and not once:
                train = pool.training(k, empty=X.iloc[:0])
            elif k == 0 and once:
                train = pool.training(0, empty=X.iloc[:0])
                n_train = len(train)
                fitted = _fit_once(model, train, name, cutoffs[0])
                train = None
            task = None
            if k is not None and k in spans:
                b0, b1 = spans[k]
                pos = pd.Index(chunks.keys(X)).get_indexer(target_keys[b0:b1])
                ok = np.flatnonzero(pos >= 0)
                rows = take_rows(X, pos[ok])
                positions = b0 + ok
                if once:
                    task = joblib.delayed(predict_features)(
                        fitted, rows, n_train, name, cutoffs[k], positions, plan.warmup[k]
                    )
                else:
                    task = joblib.delayed(fit_predict_features)(
                        model, train, rows, name, cutoffs[k], positions, plan.warmup[k]
                    )
                del rows, train
            # the chunk's rows join the pool before the block runs (they only serve later
            # refits), so that the chunk's table is freed while the model fits
            nxt = 0 if k is None else k + 1
            if nxt < len(uppers):
                if max_rows is not None:
                    X = take_rows(X, np.flatnonzero(X["y"].notna().to_numpy()))
                x_ns = _ns(X["time"])
                order = chunks.keys(X)
                key = sample_keys(X["arc_id"].to_numpy(dtype="int64"), x_ns // _HOUR_NS, seed)
                pool.add(X, x_ns, key, order, nxt)
            del X
            if task is not None:
                yield task
                del task

    return n_tasks, gen()


def _whole_window_task(
    model: Any,
    name: str,
    chunks: _Chunks,
    cutoff: pd.Timestamp,
    bounds: tuple[pd.Timestamp | None, pd.Timestamp],
    target_keys: np.ndarray,
) -> Iterator[Any]:
    """One task for a refit-free model on a small table: fit once, predict every target."""
    X = chunks.build(-(2**62), chunks.end)
    train = np.flatnonzero(_time_mask(_ns(X["time"]), *bounds))
    fitted = _fit_once(model, take_rows(X, train), name, cutoff)
    pos = pd.Index(chunks.keys(X)).get_indexer(target_keys)
    ok = np.flatnonzero(pos >= 0)
    n_train = len(train)
    yield joblib.delayed(predict_features)(fitted, take_rows(X, pos[ok]), n_train, name, cutoff, ok)


def _fit_once(model: Any, train: pd.DataFrame, name: str, cutoff: pd.Timestamp) -> Any:
    """Fit a refit-free model once (a failure names the first block, as for any refit)."""
    m = clone(model, safe=False)

    def run() -> np.ndarray:
        m.fit_features(train)
        return np.empty(0)

    guarded(run, 0, len(train), name, cutoff)
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


def _generic_tasks(
    model: Any, name: str, panel: pd.DataFrame, plan: _Plan, cfg: BacktestConfig
) -> tuple[int, Iterator[Any]]:
    p_ns = _ns(panel["time"])
    if not requires_refit(model):
        groups = [(plan.cutoffs[0], 0, len(plan.targets), False)]
    else:
        groups = [(c, b0, b1, plan.warmup[k]) for k, c, b0, b1 in plan.blocks()]
    lead_ns = cfg.lead * _HOUR_NS

    def gen() -> Iterator[Any]:
        for c, b0, b1, warmup in groups:
            lower, upper = cfg.train_bounds(c)
            train = panel.loc[_time_mask(p_ns, lower, upper)]
            history = _history(panel, p_ns, int(plan.t_ns[b1 - 1]), lead_ns)
            targets = plan.targets.iloc[b0:b1][["arc_id", "time"]].reset_index(drop=True)
            positions = np.arange(b0, b1)
            yield joblib.delayed(fit_predict_panel)(
                model, train, history, targets, name, c, positions, warmup
            )

    return len(groups), gen()


def backtest(
    panel: pd.DataFrame | ParquetStore,
    models: Mapping[str, Any] | Sequence[Any],
    config: BacktestConfig | None = None,
    *,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    horizon: int | DurationLike | Iterable[int | DurationLike] = 1,
    refit: DurationLike = "7D",
    window: str = "expanding",
    train_size: DurationLike | None = None,
    delay: int | DurationLike = 0,
    arcs: Iterable[int] | None = None,
    n_jobs: int = 1,
    progress: bool = False,
    levels: Iterable[float] | float | None = None,
    state: bool = False,
    calibration: DurationLike = "28D",
    scheduler: Any = None,
) -> BacktestResult:
    """Backtest forecasters with a rolling origin and score them.

    Every target hour ``t`` in ``[start, end)`` with an observed flow is forecast at each
    horizon ``h`` (issued at ``t - h``) using only data with ``time <= t - h - delay`` (its
    origin). Models are refit at each cutoff ``start, start + refit, ...`` on the targets with
    ``time <= cutoff - h - delay`` (expanding window) or on the last ``train_size`` of them
    (sliding window), then predict the whole block ``[cutoff, cutoff + refit)``. Each horizon
    has its own models (direct multi-horizon forecasting: a forecaster cloned with that
    ``horizon``).

    With ``levels``, every model's forecasts get conformal prediction intervals calibrated on
    its own past errors known at each origin (:class:`~infotrafic.intervals.ConformalIntervals`);
    with ``state``, every model able to (a ``target`` hyper-parameter) also forecasts the
    occupancy, from which the traffic state and its probability follow, scored against
    persistence of the last state. Both run the models on a calibration warm-up before
    ``start`` (``calibration``, rounded up to whole refit blocks), which is not scored: the
    flow models with ``levels``, the occupancy models with ``state``.

    Models with the tabular fast path (``build_features``, ``fit_features``,
    ``predict_features``) get their features streamed: built once per row, chunk by chunk (one
    refit block, or a month of history, at a time) from the panel slice their ``lookback``
    needs (a small table is built once and sliced); the training rows are kept in a pool (a
    deterministic uniform sample of at most ``max_train_rows`` rows when the model has that
    attribute), then one fit and one vectorised prediction per block. Models declaring
    ``requires_refit = False`` (baselines that learn nothing) are fitted once and predict block
    by block. Other models are cloned, fitted on the panel rows available at each cutoff and
    asked to ``predict`` the block. Each model's ``horizon``, ``delay`` and ``target``
    hyper-parameters are set to the backtest's.

    With ``scheduler``, the work runs on a Dask cluster (:mod:`infotrafic.backtest._distributed`):
    cut by horizon, model and runs of refit blocks, each shard reading its data from the store
    on its worker; the result is the local run's.

    Parameters
    ----------
    panel : pandas.DataFrame or ParquetStore
        Canonical panel (validated on entry; never mutated), or a local store (read once here;
        with ``scheduler``, read by the workers themselves, only the arcs and times they need).
    models : mapping of str to forecaster, or sequence of forecasters
        The models to compare; mapping keys name them in the output.
    config : BacktestConfig, optional
        All options at once; when given, the keyword options below must be left at defaults.
    start, end : str, datetime, date or pandas.Timestamp
        Scoring window ``[start, end)``; naive values are Paris wall-clock time.
    horizon : int or str, or a sequence of them, default 1
        Hours ahead (``1``, ``"1h"``, or ``[1, 6, 24]`` for several horizons).
    refit : str or timedelta, default "7D"
        Refit cadence.
    window : {"expanding", "sliding"}, default "expanding"
        Training window.
    train_size : str or timedelta, optional
        Length of the sliding window (e.g. ``"365D"``).
    delay : int or str, default 0
        Publication delay in hours.
    arcs : iterable of int, optional
        Restrict to these arcs.
    n_jobs : int, default 1
        Refit blocks run at once, each in a worker process (``-1``: all the available cores);
        1 runs them inline, serially (the ``infotrafic backtest`` command defaults to all
        cores). The predictions are the same whatever the value.
    progress : bool, default False
        Show a tqdm progress bar on stderr.
    levels : float or iterable of float, optional
        Prediction interval levels in percent, e.g. ``[80, 95]``.
    state : bool, default False
        Also forecast occupancy and score the traffic state.
    calibration : str or timedelta, default "28D"
        Window of past errors calibrating the intervals and state probabilities.
    scheduler : str or distributed.Client, optional
        Run on a Dask cluster: a scheduler address (``tcp://HOST:PORT``), a scheduler file,
        ``local:N`` (N worker processes here) or a ``distributed.Client``; ``n_jobs`` is then
        unused. Needs the ``dask`` extra. The result is the same as without it.

    Returns
    -------
    BacktestResult
        ``.predictions`` (``arc_id, time, horizon, model, origin, fitted_at, y_true, y_pred``
        and ``lo_<L>, hi_<L>`` per level), ``.states`` with ``state`` and ``.report``.

    Raises
    ------
    ConfigurationError
        Invalid options.
    BacktestError
        Nothing to score in the window, or a model failed (the message names model and block).
    ClusterError
        With ``scheduler``: the cluster cannot be reached or has no worker.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from infotrafic.backtest import backtest
    >>> class Last:  # a minimal forecaster: the value ``lead`` hours before
    ...     horizon, delay = 1, 0
    ...     def fit(self, panel):
    ...         return self
    ...     def predict(self, panel, targets):
    ...         s = panel.set_index(["arc_id", "time"])["flow"]
    ...         lead = pd.Timedelta(hours=self.horizon + self.delay)
    ...         keys = pd.MultiIndex.from_arrays([targets["arc_id"], targets["time"] - lead])
    ...         return s.reindex(keys).to_numpy()
    >>> times = pd.date_range("2023-01-01", periods=24 * 21, freq="h", tz="UTC")
    >>> panel = pd.DataFrame({"arc_id": 1, "time": times, "flow": np.arange(24 * 21.0)})
    >>> res = backtest(panel, {"last": Last()}, start="2023-01-15T00:00Z",
    ...                end="2023-01-22T00:00Z")
    >>> float(res.report.comparison.loc["last", "mae"])
    1.0
    """
    if config is None:
        if start is None or end is None:
            raise ConfigurationError("backtest needs start and end (or a BacktestConfig)")
        config = BacktestConfig.create(
            start=start,
            end=end,
            horizon=horizon,
            refit=refit,
            window=window,
            train_size=train_size,
            delay=delay,
            arcs=arcs,
            n_jobs=n_jobs,
            progress=progress,
            levels=levels,
            state=state,
            calibration=calibration,
        )
    elif start is not None or end is not None or arcs is not None:
        raise ConfigurationError("give either config or start/end/... options, not both")
    cfg = config
    named = model_names(models)
    if scheduler is not None:
        from infotrafic.backtest._distributed import run_distributed

        return run_distributed(panel, named, cfg, scheduler)
    if not isinstance(panel, pd.DataFrame):
        from infotrafic.etl import ParquetStore

        if not isinstance(panel, ParquetStore):
            raise ConfigurationError(
                f"panel must be a pandas.DataFrame or a ParquetStore, got {type(panel).__name__}"
            )
        panel = panel.read(arcs=cfg.arcs, end=cfg.end)

    data = prepare_data(panel, cfg)
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


def prepare_data(panel: pd.DataFrame, cfg: BacktestConfig) -> pd.DataFrame:
    """Return the validated panel a backtest uses: its arcs, before its end.

    Parameters
    ----------
    panel : pandas.DataFrame
        Canonical panel.
    cfg : BacktestConfig
        The options (``arcs``, ``end``).

    Returns
    -------
    pandas.DataFrame
    """
    data = validate_panel(panel)
    if cfg.arcs is not None:
        data = data.loc[data["arc_id"].isin(cfg.arcs)]
    # Nothing at or after ``end`` can be used by any forecast of the window.
    before_end = _ns(data["time"]) < cfg.end.value
    if not before_end.all():
        data = data.loc[before_end].reset_index(drop=True)
    return data


def _point_forecasts(
    data: pd.DataFrame,
    named: list[tuple[str, Any]],
    cfg: BacktestConfig,
    column: str,
    scored_from: pd.Timestamp,
    bar: Any,
    timings: dict[str, float],
) -> PointForecasts:
    """Run every model able to forecast ``column`` at ``cfg.horizon`` over ``cfg``'s window."""
    plan = _Plan(data, cfg, column, scored_from)
    jobs = []
    for name, model in named:
        m = _prepare(model, cfg, column)
        if m is not None:
            jobs.append((name, m, _fast_tasks if _has_fast_path(m) else _generic_tasks))
    if not jobs:
        raise BacktestError(
            f"no model can forecast the {column}: forecasters need a 'target' hyper-parameter "
            "(the built-in ones have it)"
        )
    preds = np.full((len(jobs), len(plan.targets)), np.nan, dtype="float64")
    for i, (name, m, make) in enumerate(jobs):
        t0 = _time.perf_counter()
        bar.set_postfix_str(f"{name} {column} h={cfg.horizon}")
        n_tasks, tasks = make(m, name, data, plan, cfg)
        bar.total += n_tasks
        bar.refresh()
        for positions, out in run_tasks(tasks, cfg.workers):
            preds[i, positions] = out
            bar.update(1)
        timings[name] = timings.get(name, 0.0) + _time.perf_counter() - t0
    fitted_at = np.array([c.value for c in plan.cutoffs], dtype="int64")[plan.block]
    return PointForecasts(
        column=column,
        targets=plan.targets,
        fitted_at=fitted_at,
        names=[name for name, _, _ in jobs],
        preds=preds,
    )
