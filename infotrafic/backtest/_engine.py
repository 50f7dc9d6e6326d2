"""The rolling-origin backtest engine: forecasters in, long prediction frame and report out.

Backtesting lives here, outside the model classes: the engine only relies on the forecaster
contract (``fit``/``predict``, plus the tabular fast path ``build_features``/``fit_features``/
``predict_features`` when a model has it).
"""

from __future__ import annotations

import re
import time as _time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone

from infotrafic._schema import validate_panel
from infotrafic._types import DurationLike, TimeLike
from infotrafic.backtest._config import BacktestConfig
from infotrafic.backtest._report import seasonal_scales
from infotrafic.backtest._result import BacktestResult
from infotrafic.exceptions import BacktestError, ConfigurationError
from infotrafic.forecasters import NaiveForecaster, SeasonalNaiveForecaster

__all__ = ["backtest", "model_names"]

_HOUR_NS = 3_600_000_000_000
_FAST = ("build_features", "fit_features", "predict_features")


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


def _refit_free(model: Any) -> bool:
    """Models that learn nothing from training data are fitted once, not once per block.

    A model says so with a class attribute ``requires_refit = False``; the built-in naive and
    seasonal naive forecasters are known to be such baselines.
    """
    flag = getattr(model, "requires_refit", None)
    if flag is not None:
        return flag is False
    return type(model) in (NaiveForecaster, SeasonalNaiveForecaster)


def _prepare(model: Any, cfg: BacktestConfig) -> Any:
    """Clone a model and align its ``horizon``/``delay`` hyper-parameters with the backtest."""
    m = clone(model, safe=False)
    get_params = getattr(m, "get_params", None)
    if callable(get_params):
        params = get_params(deep=False)
        update = {k: v for k, v in (("horizon", cfg.horizon), ("delay", cfg.delay)) if k in params}
        if update:
            m.set_params(**update)
    return m


def _check_output(out: Any, n: int, name: str, cutoff: pd.Timestamp) -> np.ndarray:
    arr = np.asarray(out, dtype="float64").ravel()
    if arr.shape[0] != n:
        raise BacktestError(
            f"model {name!r} returned {arr.shape[0]} predictions for {n} targets "
            f"(block starting {cutoff}); predict must return one value per target row"
        )
    return arr


def _guarded(
    run: Callable[[], np.ndarray], n: int, n_train: int, name: str, cutoff: pd.Timestamp
) -> np.ndarray:
    """Run one refit block; turn a model's failure into a BacktestError naming the block."""
    try:
        out = run()
    except BacktestError:
        raise
    except Exception as exc:
        raise BacktestError(
            f"model {name!r} failed on the block starting {cutoff} "
            f"({n_train} training rows): {type(exc).__name__}: {exc}"
        ) from exc
    return _check_output(out, n, name, cutoff)


def _fit_predict_features(
    model: Any, train: pd.DataFrame, rows: pd.DataFrame, name: str, cutoff: pd.Timestamp
) -> np.ndarray:
    def run() -> np.ndarray:
        m = clone(model, safe=False)
        m.fit_features(train)
        return m.predict_features(rows) if len(rows) else np.empty(0)

    return _guarded(run, len(rows), len(train), name, cutoff)


def _fit_predict_panel(
    model: Any,
    train: pd.DataFrame,
    history: pd.DataFrame,
    targets: pd.DataFrame,
    name: str,
    cutoff: pd.Timestamp,
) -> np.ndarray:
    def run() -> np.ndarray:
        m = clone(model, safe=False)
        m.fit(train)
        return m.predict(history, targets) if len(targets) else np.empty(0)

    return _guarded(run, len(targets), len(train), name, cutoff)


class _Plan:
    """Targets sorted by time, cut into refit blocks (positions into the target arrays)."""

    def __init__(self, panel: pd.DataFrame, cfg: BacktestConfig) -> None:
        t_ns = _ns(panel["time"])
        start, end = cfg.start.value, cfg.end.value
        mask = (t_ns >= start) & (t_ns < end) & panel["flow"].notna().to_numpy()
        if not mask.any():
            raise BacktestError(
                f"no observed flow to score between {cfg.start} and {cfg.end} "
                f"(panel covers {panel['time'].min()} -> {panel['time'].max()}); "
                "check --start/--end and the arcs"
            )
        tg = panel.loc[mask, ["arc_id", "time", "flow"]]
        order = np.lexsort((tg["arc_id"].to_numpy(), _ns(tg["time"])))
        self.targets = tg.iloc[order].reset_index(drop=True)
        self.t_ns = _ns(self.targets["time"])
        self.cutoffs = cfg.cutoffs()
        edges = np.array([c.value for c in self.cutoffs] + [end], dtype="int64")
        self.bounds = np.searchsorted(self.t_ns, edges, side="left")
        self.block = np.searchsorted(edges, self.t_ns, side="right") - 1

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


def _fast_tasks(
    model: Any, name: str, panel: pd.DataFrame, plan: _Plan, cfg: BacktestConfig
) -> tuple[list[tuple[int, int, np.ndarray]], Iterator[Any]]:
    try:
        X = model.build_features(panel)
    except Exception as exc:
        raise BacktestError(
            f"model {name!r}: build_features failed: {type(exc).__name__}: {exc}"
        ) from exc
    x_ns = _ns(X["time"])
    keep = x_ns < cfg.end.value
    if not keep.all():
        X = X.loc[keep].reset_index(drop=True)
        x_ns = x_ns[keep]
    arcs = pd.Index(np.unique(np.concatenate([X["arc_id"].to_numpy(), plan.targets["arc_id"]])))
    xkey = pd.Index(_keys(X["arc_id"].to_numpy(), x_ns, arcs))
    if not xkey.is_unique:
        raise BacktestError(
            f"model {name!r}: build_features returned duplicated (arc_id, time) rows"
        )
    pos = xkey.get_indexer(_keys(plan.targets["arc_id"].to_numpy(), plan.t_ns, arcs))

    spans: list[tuple[int, int, np.ndarray]] = []
    if _refit_free(model):
        groups = [(plan.cutoffs[0], 0, len(plan.targets))]
    else:
        groups = [(c, b0, b1) for _, c, b0, b1 in plan.blocks()]
    for _, b0, b1 in groups:
        p = pos[b0:b1]
        spans.append((b0, b1, np.flatnonzero(p >= 0)))

    def gen() -> Iterator[Any]:
        for (c, b0, b1), (_, _, ok) in zip(groups, spans, strict=True):
            lower, upper = cfg.train_bounds(c)
            train = X.loc[_time_mask(x_ns, lower, upper)]
            rows = X.iloc[pos[b0:b1][ok]]
            yield joblib.delayed(_fit_predict_features)(model, train, rows, name, c)

    return spans, gen()


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
) -> tuple[list[tuple[int, int, np.ndarray]], Iterator[Any]]:
    p_ns = _ns(panel["time"])
    if _refit_free(model):
        groups = [(plan.cutoffs[0], 0, len(plan.targets))]
    else:
        groups = [(c, b0, b1) for _, c, b0, b1 in plan.blocks()]
    spans = [(b0, b1, np.arange(b1 - b0)) for _, b0, b1 in groups]
    lead_ns = cfg.lead * _HOUR_NS

    def gen() -> Iterator[Any]:
        for c, b0, b1 in groups:
            lower, upper = cfg.train_bounds(c)
            train = panel.loc[_time_mask(p_ns, lower, upper)]
            history = _history(panel, p_ns, int(plan.t_ns[b1 - 1]), lead_ns)
            targets = plan.targets.iloc[b0:b1][["arc_id", "time"]].reset_index(drop=True)
            yield joblib.delayed(_fit_predict_panel)(model, train, history, targets, name, c)

    return spans, gen()


def backtest(
    panel: pd.DataFrame,
    models: Mapping[str, Any] | Sequence[Any],
    config: BacktestConfig | None = None,
    *,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    horizon: int | DurationLike = 1,
    refit: DurationLike = "7D",
    window: str = "expanding",
    train_size: DurationLike | None = None,
    delay: int | DurationLike = 0,
    arcs: Iterable[int] | None = None,
    n_jobs: int = 1,
    progress: bool = False,
) -> BacktestResult:
    """Backtest forecasters with a rolling origin and score them.

    Every target hour ``t`` in ``[start, end)`` with an observed flow is forecast from its origin
    ``t - horizon`` using only data with ``time <= t - horizon - delay``. Models are refit at
    each cutoff ``start, start + refit, ...`` on the targets with
    ``time <= cutoff - horizon - delay`` (expanding window) or on the last ``train_size`` of them
    (sliding window), then predict the whole block ``[cutoff, cutoff + refit)``.

    Models with the tabular fast path (``build_features``, ``fit_features``,
    ``predict_features``) get their features built once over the whole panel, then one fit and
    one vectorised prediction per block. Models declaring ``requires_refit = False`` (baselines
    that learn nothing) are fitted once and predict the whole window in one call. Other models
    are cloned, fitted on the panel rows available at each cutoff and asked to ``predict`` the
    block. Each model's ``horizon`` and ``delay`` hyper-parameters are set to the backtest's.

    Parameters
    ----------
    panel : pandas.DataFrame
        Canonical panel (validated on entry; never mutated).
    models : mapping of str to forecaster, or sequence of forecasters
        The models to compare; mapping keys name them in the output.
    config : BacktestConfig, optional
        All options at once; when given, the keyword options below must be left at defaults.
    start, end : str, datetime, date or pandas.Timestamp
        Scoring window ``[start, end)``; naive values are Paris wall-clock time.
    horizon : int or str, default 1
        Hours ahead (``1`` or ``"1h"``).
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
        Refit blocks run in parallel with joblib (``-1``: all cores).
    progress : bool, default False
        Show a tqdm progress bar on stderr.

    Returns
    -------
    BacktestResult
        ``.predictions`` (arc_id, time, model, cutoff, y_true, y_pred) and ``.report``.

    Raises
    ------
    ConfigurationError
        Invalid options.
    BacktestError
        Nothing to score in the window, or a model failed (the message names model and block).

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
        )
    elif start is not None or end is not None or arcs is not None:
        raise ConfigurationError("give either config or start/end/... options, not both")
    cfg = config
    named = model_names(models)

    data = validate_panel(panel)
    if cfg.arcs is not None:
        data = data.loc[data["arc_id"].isin(cfg.arcs)]
    # Nothing at or after ``end`` can be used by any forecast of the window.
    data = data.loc[_ns(data["time"]) < cfg.end.value].reset_index(drop=True)
    plan = _Plan(data, cfg)
    n = len(plan.targets)

    preds = np.full((len(named), n), np.nan, dtype="float64")
    timings: dict[str, float] = {}
    jobs: list[tuple[int, str, Any, Callable[..., Any]]] = []
    for i, (name, model) in enumerate(named):
        m = _prepare(model, cfg)
        jobs.append((i, name, m, _fast_tasks if _has_fast_path(m) else _generic_tasks))

    from tqdm.auto import tqdm

    n_blocks = sum(1 for _ in plan.blocks())
    total = sum(1 if _refit_free(m) else n_blocks for _, _, m, _ in jobs)
    with tqdm(total=total, disable=not cfg.progress, desc="backtest", unit="fit") as bar:
        for i, name, m, make in jobs:
            t0 = _time.perf_counter()
            bar.set_postfix_str(name)
            spans, tasks = make(m, name, data, plan, cfg)
            runner = joblib.Parallel(n_jobs=cfg.n_jobs, return_as="generator")
            for (b0, _b1, ok), out in zip(spans, runner(tasks), strict=True):
                preds[i, b0 + ok] = out
                bar.update(1)
            timings[name] = _time.perf_counter() - t0

    cut_values = np.array([c.value for c in plan.cutoffs], dtype="int64")[plan.block]
    order = np.lexsort((plan.t_ns, plan.targets["arc_id"].to_numpy()))
    names = [name for name, _ in named]
    frame = pd.DataFrame(
        {
            "arc_id": np.tile(plan.targets["arc_id"].to_numpy()[order], len(named)),
            "time": pd.DatetimeIndex(np.tile(plan.t_ns[order], len(named)), tz="UTC"),
            "model": pd.Categorical.from_codes(
                np.repeat(np.arange(len(named), dtype="int32"), n), categories=pd.Index(names)
            ),
            "cutoff": pd.DatetimeIndex(np.tile(cut_values[order], len(named)), tz="UTC"),
            "y_true": np.tile(plan.targets["flow"].to_numpy()[order], len(named)).astype("float32"),
            "y_pred": preds[:, order].ravel().astype("float32"),
        }
    )
    scales = seasonal_scales(data, cfg.start)
    return BacktestResult(predictions=frame, config=cfg, timings=timings, scales=scales)
