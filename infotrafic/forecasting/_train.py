"""Train a forecast model: one forecaster per series and horizon, calibrated, optionally validated.

For each horizon ``h`` (and each series: the flow, and the occupancy for the traffic state) a
clone of the forecaster with ``horizon=h`` is fitted on the targets before ``end - calibration``
(direct multi-horizon forecasting) and forecasts that last window; its errors calibrate its own
intervals and state probabilities (split conformal, exactly as a backtest with one refit block
would). With ``refit_final=True`` a second clone, fitted on every target before ``end``, is
served instead, calibrated by the first (twice the fits, for no accuracy measured on the real
data). With ``validate_start`` a rolling-origin backtest over ``[validate_start, end)`` measures
the model first; when it covers the calibration window, its errors calibrate the model instead
(its weekly refits are closer to how the model is used), and the served forecasters learn
from every target before ``end``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any, cast

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone

from infotrafic import _defaults as defaults
from infotrafic._schema import validate_panel
from infotrafic._types import DurationLike, TimeLike
from infotrafic.backtest import (
    BacktestResult,
    backtest,
    parse_duration,
    parse_hours,
    parse_time,
    sample_keys,
)
from infotrafic.exceptions import ConfigurationError, DataValidationError
from infotrafic.features import SPARSE_SHARE
from infotrafic.forecasters import (
    Forecaster,
    TabularForecaster,
    get_tags,
    make_forecaster,
)
from infotrafic.forecasting._model import ForecastModel
from infotrafic.intervals import ConformalIntervals, check_levels

__all__ = ["DEFAULT_HORIZONS", "fingerprint", "train"]

logger = logging.getLogger("infotrafic.forecasting")

#: Horizons trained by default: every hour of the next day.
DEFAULT_HORIZONS: tuple[int, ...] = tuple(range(1, 25))
_HOUR = pd.Timedelta(hours=1)
_HOUR_NS = 3_600_000_000_000


def fingerprint(panel: pd.DataFrame) -> str:
    """SHA-256 of a canonical panel's keys and values (arc, time, flow, occupancy).

    Two panels with the same fingerprint hold the same data, whatever their row order.

    Parameters
    ----------
    panel : pandas.DataFrame
        A canonical panel.

    Returns
    -------
    str
        64 hex digits.

    Examples
    --------
    >>> from infotrafic.datasets import load_sample
    >>> p = load_sample()
    >>> fingerprint(p) == fingerprint(p.sample(frac=1.0, random_state=0))
    True
    """
    data = validate_panel(panel)
    digest = hashlib.sha256()
    digest.update(data["arc_id"].to_numpy(dtype=np.int64).tobytes())
    digest.update(pd.DatetimeIndex(data["time"]).as_unit("ns").asi8.tobytes())
    for col in ("flow", "occupancy"):
        digest.update(data[col].to_numpy(dtype=np.float64, na_value=np.nan).tobytes())
    return digest.hexdigest()


def _configure(template: Forecaster, target: str, horizon: int, delay: int) -> Forecaster:
    if target not in get_tags(template).targets:
        raise ConfigurationError(
            f"{type(template).__name__} cannot forecast the {target} (its tags list "
            f"{list(get_tags(template).targets)}); train without the state (--no-state)"
        )
    m: Forecaster = clone(template, safe=False)
    params = m.get_params(deep=False)
    wanted = {"horizon": horizon, "delay": delay, "target": target}
    m.set_params(**{k: v for k, v in wanted.items() if k in params})
    return m


#: How many times more rows than ``max_train_rows`` the hours picked on a large panel hold.
HOUR_OVERSAMPLING = 4


def _training_rows(
    model: Forecaster, data: pd.DataFrame, until: pd.Timestamp, target: str
) -> pd.DataFrame:
    """Return the training targets (``arc_id``, ``time``) of a forecaster: ``time <= until``.

    A forecaster tagged with ``max_train_rows`` learns from a deterministic uniform sample
    of at most that many rows (the sample the backtest engine draws: bottom-k of a hash of arc,
    hour and ``random_state``), so that its features are built only for them.

    On a large panel (more than ``HOUR_OVERSAMPLING / SPARSE_SHARE`` times ``max_train_rows``
    known targets, e.g. 2,000 arcs over a year for the gbm's 500,000) the sample is first
    restricted to a pseudo-random set of whole hours holding :data:`HOUR_OVERSAMPLING` times
    the rows needed: every arc and hour of day stays represented, and the features are built
    for those hours only (an eighth of the history or less), which is most of the training
    cost on the whole network. The hours depend on the panel, not on ``until``, so that the
    forecasters of one horizon share them (and one feature build).

    A forecaster that learns nothing (its ``requires_refit`` tag is False) gets the rows of the
    last known hour only.
    """
    tags = get_tags(model)
    t_ns = pd.DatetimeIndex(data["time"]).as_unit("ns").asi8
    has_target = data[target].notna().to_numpy()
    # Positions, not frames: on the whole network the known rows are tens of millions.
    idx = np.flatnonzero((t_ns <= until.value) & has_target)
    if not tags.requires_refit and idx.size:
        # It learns nothing: its fit only checks the feature table, so one hour of rows does.
        idx = idx[t_ns[idx] == t_ns[idx].max()]
    max_rows = tags.max_train_rows
    if max_rows is not None and len(idx) > max_rows:
        seed = tags.random_state
        hours = t_ns[idx] // _HOUR_NS
        share = HOUR_OVERSAMPLING * max_rows / int(has_target.sum())
        if share <= SPARSE_SHARE:
            # one key per hour of the span (a key depends on the hour only), looked up per row
            first = int(hours.min())
            span = np.arange(first, int(hours.max()) + 1, dtype=np.int64)
            hour_keys = sample_keys(np.full(len(span), -1, dtype=np.int64), span, seed)
            kept = (hour_keys < np.uint64(share * 2.0**64))[hours - first]
            idx, hours = idx[kept], hours[kept]
        arcs = data["arc_id"].to_numpy(dtype=np.int64)[idx]
        keys = sample_keys(arcs, hours, seed)
        if len(idx) > max_rows:
            idx = idx[np.sort(np.argpartition(keys, max_rows - 1)[:max_rows])]
    rows = pd.DataFrame({c: data[c].take(idx).reset_index(drop=True) for c in ("arc_id", "time")})
    if rows.empty:
        raise DataValidationError(
            f"no {target} to learn from before {until}; give more data or an earlier --end",
            field=target,
        )
    return rows


def _until(data: pd.DataFrame, until: pd.Timestamp) -> pd.DataFrame:
    """Return the rows of ``data`` up to ``until``: ``data`` itself when none is later.

    On the whole network the panel is gigabytes: a copy per fit would double the memory.
    """
    t = data["time"]
    if t.max() <= until:
        return data
    out: pd.DataFrame = data.loc[t <= until]
    return out


def _fit_all(
    models: list[tuple[Forecaster, pd.Timestamp]], data: pd.DataFrame, target: str
) -> None:
    """Fit forecasters of the same features, each on the targets up to its own time.

    Tabular forecasters share one feature build: the features of a row do not depend on when a
    model is fitted, so the union of their training rows is built once. Other forecasters
    are fitted on the panel up to their time.
    """
    if not all(get_tags(m).tabular for m, _ in models):
        for m, until in models:
            m.fit(_until(data, until))
        return
    tabular = [(cast("TabularForecaster", m), until) for m, until in models]
    samples = [_training_rows(m, data, until, target) for m, until in models]
    union = pd.concat(samples).drop_duplicates(ignore_index=True)
    build = tabular[0][0].build_features
    # A row's features read only data up to its origin (the builders' leakage property), so
    # the whole panel is given: no copy of it per fit.
    X = build(data, targets=union)
    index = pd.MultiIndex.from_frame(union)
    for (m, _), rows in zip(tabular, samples, strict=True):
        pick = index.get_indexer(pd.MultiIndex.from_frame(rows))
        part = X.iloc[pick]
        part.index = pd.RangeIndex(len(part))
        m.fit_features(part)


def _recent(
    model: Forecaster, data: pd.DataFrame, first: pd.Timestamp, arcs: np.ndarray | None = None
) -> pd.DataFrame:
    """Return the rows of ``data`` the model's features read for targets from ``first`` on.

    With ``arcs``, only those arcs' rows (the features of an arc read that arc only).
    """
    keep = data["arc_id"].isin(arcs).to_numpy() if arcs is not None else None
    lookback = get_tags(model).lookback
    if lookback is not None:
        lead = int(model.horizon) + int(model.delay)
        since = (data["time"] >= first - (int(lookback) + lead + 168) * _HOUR).to_numpy()
        keep = since if keep is None else keep & since
    if keep is None:
        return data
    out: pd.DataFrame = data.loc[keep]
    return out


def _window_rows(data: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp, target: str) -> Any:
    t = data["time"]
    mask = (t >= lo) & (t < hi) & data[target].notna()
    return data.loc[mask, ["arc_id", "time", target]].reset_index(drop=True)


#: Arcs at most whose errors calibrate a series and horizon (a seeded random set beyond).
CALIBRATION_ARCS = 500


def _calibration_rows(rows: pd.DataFrame, limit: int, max_arcs: int | None = None) -> pd.DataFrame:
    """Return a deterministic sample of at most ``limit`` rows of at most ``max_arcs`` arcs.

    On a network of more than ``max_arcs`` arcs, a seeded random set of ``max_arcs`` whole
    arcs is drawn first, then the rows uniformly among theirs. The calibration forecasts
    then read the history of those arcs only: on the whole network, a sixth of the cost of
    a uniform sample over every arc (which touches every arc and hour), for quantiles as
    precise (5,000 errors per hour of day come from 500 arcs instead of 3,000; see the
    intervals page).
    """
    max_arcs = CALIBRATION_ARCS if max_arcs is None else max_arcs
    arcs = np.unique(rows["arc_id"].to_numpy(dtype=np.int64))
    if len(arcs) > max_arcs:
        keys = sample_keys(arcs, np.full(len(arcs), -1, dtype=np.int64), seed=0)
        chosen = arcs[np.argpartition(keys, max_arcs - 1)[:max_arcs]]
        rows = rows.loc[rows["arc_id"].isin(chosen)].reset_index(drop=True)
    if len(rows) <= limit:
        return rows
    hours = pd.DatetimeIndex(rows["time"]).as_unit("ns").asi8 // _HOUR_NS
    keys = sample_keys(rows["arc_id"].to_numpy(dtype=np.int64), hours, seed=0)
    pick = np.sort(np.argpartition(keys, limit - 1)[:limit])
    return rows.iloc[pick].reset_index(drop=True)


def _scores(
    cal: ConformalIntervals,
    data: pd.DataFrame,
    rows: pd.DataFrame,
    y_pred: np.ndarray,
    target: str,
    horizon: int,
    lead: int,
) -> pd.DataFrame:
    """Calibration errors of forecasts ``y_pred`` of the rows (``arc_id, time, <target>``).

    Flow errors are scaled by each arc's level and grouped by hour of day (the intervals);
    occupancy errors are relative to the forecast and grouped by its state (the state
    probabilities); see :class:`~infotrafic.intervals.ConformalIntervals`.
    """
    y = rows[target].to_numpy(dtype=np.float64)
    if target == "occupancy":
        errors = cal.state_errors(rows["time"], y, y_pred)
    else:
        scale = cal.scales(data, rows[["arc_id", "time"]], lead, target)
        errors = cal.errors(rows["time"], y, y_pred, scale)
    errors.insert(0, "horizon", np.int16(horizon))
    errors.insert(0, "target", target)
    errors["group"] = errors["group"].astype(np.int8)
    return errors


#: Calibration errors kept per series, horizon and group (hour of day, or forecast state).
MAX_ERRORS = 5_000


def _thin(errors: pd.DataFrame) -> pd.DataFrame:
    """Keep at most :data:`MAX_ERRORS` errors per series, horizon and group, evenly over time.

    On the whole network the window holds millions of errors per horizon; a few thousand give
    the conformal quantiles to a fraction of a point of coverage, for a small model directory
    and fast forecasts.
    """
    errors = errors.sort_values("time", kind="stable").reset_index(drop=True)
    errors["target"] = errors["target"].astype("category")
    key = ["target", "horizon", "group"]
    rank = errors.groupby(key, observed=True).cumcount().to_numpy()
    size = errors.groupby(key, observed=True)["time"].transform("size").to_numpy()
    stride = np.maximum(1, -(-size // MAX_ERRORS))
    keep = (size - 1 - rank) % stride == 0  # the newest error of each group always kept
    out: pd.DataFrame = errors.loc[keep].reset_index(drop=True)
    return out


def _train_one(
    template: Forecaster,
    data: pd.DataFrame,
    target: str,
    horizon: int,
    delay: int,
    end: pd.Timestamp,
    cal: ConformalIntervals,
    calibrate: bool,
    refit_final: bool = False,
) -> tuple[str, int, Forecaster, pd.DataFrame | None]:
    """Fit the served forecaster of a series and horizon, and its calibration errors.

    With ``calibrate``, a forecaster learns from the targets known at ``end - calibration``
    and forecasts that window, whose errors calibrate the intervals (one refit block of a
    backtest); it is served (plain split conformal), or, with ``refit_final``, a twin learning
    from every target before ``end`` is (two fits instead of one). Without ``calibrate`` (a
    validation backtest calibrated) the served forecaster learns from every target.
    """
    t0 = time.perf_counter()
    lead = horizon + delay
    final = _configure(template, target, horizon, delay)
    if not calibrate:
        _fit_all([(final, end - _HOUR)], data, target)
        logger.info("%s h=%d: fitted in %.1f s", target, horizon, time.perf_counter() - t0)
        return target, horizon, final, None
    cut = end - cal.window * _HOUR
    early = _configure(template, target, horizon, delay) if refit_final else final
    fits = [(final, end - _HOUR)] if refit_final else []
    _fit_all([*fits, (early, cut - lead * _HOUR)], data, target)
    fitted = time.perf_counter() - t0
    rows = _calibration_rows(_window_rows(data, cut, end, target), 24 * MAX_ERRORS)
    history = _recent(early, data, cut, arcs=rows["arc_id"].unique())
    pred = np.asarray(early.predict(history, rows[["arc_id", "time"]]), dtype=np.float64)
    scores = _scores(cal, history, rows, pred, target, horizon, lead)
    logger.info(
        "%s h=%d: fitted in %.1f s, calibrated on %d forecasts of %d arcs in %.1f s",
        target,
        horizon,
        fitted,
        len(rows),
        rows["arc_id"].nunique(),
        time.perf_counter() - t0 - fitted,
    )
    return target, horizon, final, scores


def _validation_scores(
    result: BacktestResult,
    name: str,
    data: pd.DataFrame,
    cal: ConformalIntervals,
    end: pd.Timestamp,
    delay: int,
) -> pd.DataFrame:
    """Calibration scores from a validation backtest's errors in the last calibration window."""
    lo = end - cal.window * _HOUR
    parts = []
    frames = [("flow", result.predictions, "y_true", "y_pred")]
    if result.states is not None:
        frames.append(("occupancy", result.states, "occupancy_true", "occupancy_pred"))
    for target, frame, truth, pred in frames:
        mine = frame.loc[(frame["model"] == name) & (frame["time"] >= lo)]
        for h, g in mine.groupby("horizon", sort=True):
            horizon = int(str(h))
            rows = pd.DataFrame(
                {
                    "arc_id": g["arc_id"].to_numpy(),
                    "time": g["time"].reset_index(drop=True),
                    target: g[truth].to_numpy(dtype=np.float64),
                }
            )
            yp = g[pred].to_numpy(dtype=np.float64)
            parts.append(_scores(cal, data, rows, yp, target, horizon, horizon + delay))
    return pd.concat(parts, ignore_index=True)


def _metrics(result: BacktestResult, name: str) -> dict[str, Any]:
    """Return the validation metrics of one model: per horizon and their means."""
    report = result.report
    per_h = report.per_horizon.xs(name, level="model")
    out: dict[str, Any] = {
        "validation_start": result.config.start.isoformat(),
        "validation_end": result.config.end.isoformat(),
        "mae": float(per_h["mae"].mean()),
        "mae_per_horizon": {str(h): float(v) for h, v in per_h["mae"].items()},
    }
    if not report.intervals.empty:
        iv = report.intervals.xs(name, level="model")
        for level, g in iv.groupby(level="level"):
            key = f"{float(str(level)):g}"
            out[f"coverage_{key}"] = float(g["coverage"].mean())
            out[f"width_{key}"] = float(g["width"].mean())
    if not report.state_scores.empty and name in report.state_scores.index.get_level_values(0):
        st = report.state_scores.xs(name, level="model")
        out["state_macro_f1"] = float(st["macro_f1"].mean())
        out["state_accuracy"] = float(st["accuracy"].mean())
    return out


def train(
    panel: pd.DataFrame,
    model: str | Forecaster = "gbm",
    *,
    horizons: Iterable[int | DurationLike] = DEFAULT_HORIZONS,
    levels: Iterable[float] | None = (80.0, 95.0),
    end: TimeLike | None = None,
    params: Mapping[str, Any] | None = None,
    delay: int | DurationLike = 0,
    state: bool | None = None,
    calibration: DurationLike = defaults.CALIBRATION,
    validate_start: TimeLike | None = None,
    refit: DurationLike = defaults.REFIT,
    stale_after: int | DurationLike = 24,
    refit_final: bool = False,
    n_jobs: int = 1,
    progress: bool = False,
    scheduler: Any = None,
) -> ForecastModel:
    """Train a forecaster for every horizon, calibrate its intervals, optionally validate it.

    Parameters
    ----------
    panel : pandas.DataFrame
        Canonical panel (never mutated).
    model : str or Forecaster, default "gbm"
        A registered forecaster name (see :func:`~infotrafic.forecasters.make_forecaster`) or
        an unfitted forecaster; it is cloned for every series and horizon.
    horizons : iterable of int or str, default 1 to 24
        Hours ahead (``1``, ``"6h"``, ...), each from 1 to 24.
    levels : iterable of float, default (80, 95)
        Prediction interval levels in percent, each in (0, 100).
    end : str, datetime or pandas.Timestamp, optional
        Train on the targets before this time (naive = Paris time); default: everything.
    params : mapping, optional
        Hyper-parameters for ``make_forecaster`` (when ``model`` is a name).
    delay : int or str, default 0
        Publication delay in hours: forecasts issued at ``T`` will only use data up to
        ``T - delay``.
    state : bool, optional
        Also forecast the occupancy, for the traffic state (default: when the data has
        occupancy).
    calibration : str or timedelta, default "28D"
        Window of forecast errors calibrating the intervals and state probabilities.
    validate_start : str, datetime or pandas.Timestamp, optional
        Also backtest the model over ``[validate_start, end)`` (refit every ``refit``) and keep
        its metrics and report.
    refit : str or timedelta, default "7D"
        Refit cadence of the validation backtest.
    stale_after : int or str, default 24
        Hours without flow after which :func:`~infotrafic.forecasting.forecast` lists an arc
        as stale.
    refit_final : bool, default False
        By default the forecasters fitted before the calibration window are served, calibrated
        on their own errors over it (plain split conformal: one fit per series and horizon;
        the last ``calibration`` window is not learned from, but its data feeds every
        forecast's features). With True, forecasters refitted on every target before ``end``
        are served, calibrated by those twins: twice the fits. On the real Paris arcs (13
        monthly origins over the dev year) both gave the same MAE and coverage at 1 h and
        24 h (see the forecasting page). Ignored when a validation backtest calibrates.
    n_jobs : int, default 1
        Series and horizons fitted in parallel (threads; ``-1``: all cores).
    progress : bool, default False
        Show progress bars.
    scheduler : str or distributed.Client, optional
        Fit the series and horizons (and run the validation backtest) on a Dask cluster: a
        scheduler address (``tcp://HOST:PORT``), a scheduler file, ``local:N`` or a
        ``distributed.Client``; the panel is sent once (each worker fetches it once); ``n_jobs`` is
        unused. Needs the ``dask`` extra. The model is the same as without it.

    Returns
    -------
    ForecastModel

    Raises
    ------
    ConfigurationError
        Invalid options (a horizon outside 1-24, a level outside (0, 100), ...).
    DataValidationError
        Data that cannot train the model (no flow before ``end``, ...).

    Examples
    --------
    >>> from infotrafic.datasets import load_sample
    >>> from infotrafic.forecasting import train
    >>> m = train(load_sample(), "seasonal_naive", horizons=[1, 24], end="2023-06-01")
    >>> m.horizons, m.targets, m.levels
    ((1, 24), ('flow', 'occupancy'), (80.0, 95.0))
    """
    t0 = time.perf_counter()
    hours = sorted({parse_hours(h, name="horizon", minimum=1) for h in horizons})
    if not hours or hours[-1] > 24:
        raise ConfigurationError(f"horizons go from 1 to 24 hours, got {hours}")
    levels_ = check_levels(levels)
    delay_h = parse_hours(delay, name="delay")
    window = parse_duration(calibration, name="calibration")
    stale_h = parse_hours(stale_after, name="stale_after", minimum=1)
    if isinstance(model, str):
        name, template = model, make_forecaster(model, **dict(params or {}))
    else:
        if params:
            raise ConfigurationError("params only apply when model is a registered name")
        name, template = type(model).__name__, model
    data = validate_panel(panel)
    if not data["flow"].notna().any():
        raise DataValidationError("the panel has no flow to learn from", field="flow")
    last = data.loc[data["flow"].notna(), "time"].max()
    end_ts = parse_time(end, name="end") if end is not None else last + _HOUR
    if data["time"].max() >= end_ts:
        data = data.loc[data["time"] < end_ts].reset_index(drop=True)
    if data.empty or not data["flow"].notna().any():
        raise DataValidationError(
            f"no flow before --end {end_ts} (the data covers {last} at the latest)", field="time"
        )
    if state is None:
        state = bool(data["occupancy"].notna().any())
    elif state and not data["occupancy"].notna().any():
        raise DataValidationError(
            "state needs occupancy and the data has none; train without the state",
            field="occupancy",
        )
    targets = ["flow", *(["occupancy"] if state else [])]
    cal = ConformalIntervals(levels=levels_, window=int(window / _HOUR))
    logger.info(
        "train %s: %s at %s h on %d rows of %d arcs before %s",
        name,
        " and ".join(targets),
        ",".join(map(str, hours)),
        len(data),
        data["arc_id"].nunique(),
        end_ts,
    )

    with contextlib.ExitStack() as stack:
        client = None
        if scheduler is not None:
            from infotrafic._dask import dask_client

            client = stack.enter_context(dask_client(scheduler))
        return _train(
            data,
            name,
            template,
            hours,
            levels_,
            end_ts,
            params,
            delay_h,
            state,
            targets,
            cal,
            window,
            validate_start,
            refit,
            stale_h,
            refit_final,
            n_jobs,
            progress,
            client,
            t0,
        )


def _train(
    data: pd.DataFrame,
    name: str,
    template: Forecaster,
    hours: list[int],
    levels_: tuple[float, ...],
    end_ts: pd.Timestamp,
    params: Mapping[str, Any] | None,
    delay_h: int,
    state: bool,
    targets: list[str],
    cal: ConformalIntervals,
    window: pd.Timedelta,
    validate_start: TimeLike | None,
    refit: DurationLike,
    stale_h: int,
    refit_final: bool,
    n_jobs: int,
    progress: bool,
    client: Any,
    t0: float,
) -> ForecastModel:
    """Fit the forecasters of :func:`train` once its options are checked (here or on Dask)."""
    metrics = validation = None
    calibrate = True
    scores: list[pd.DataFrame] = []
    if validate_start is not None:
        logger.info("train %s: validation backtest from %s", name, validate_start)
        result = backtest(
            data,
            {name: template},
            start=validate_start,
            end=end_ts,
            horizon=hours,
            levels=levels_,
            state=state,
            calibration=window,
            refit=refit,
            delay=delay_h,
            n_jobs=n_jobs,
            progress=progress,
            scheduler=client,
        )
        metrics = _metrics(result, name)
        validation = result.report.to_dict()
        if result.config.start <= end_ts - window:
            validated = _validation_scores(result, name, data, cal, end_ts, delay_h)
            scores.append(validated)
            calibrate = False
            logger.info("train %s: calibrated on %d validation errors", name, len(validated))

    from tqdm.auto import tqdm

    tasks = [(target, h) for target in targets for h in hours]
    forecasters: dict[tuple[str, int], Forecaster] = {}
    shared: Any = data
    if client is not None:  # one copy of the panel per worker, not one per task
        from infotrafic._dask import send_data

        shared = send_data(client, data)
    jobs = (
        joblib.delayed(_train_one)(
            template, shared, target, h, delay_h, end_ts, cal, calibrate, refit_final
        )
        for target, h in tasks
    )
    if client is not None:
        from infotrafic._dask import run_on_dask

        results: Iterable[Any] = run_on_dask(
            client, jobs, total=len(tasks), progress=progress, desc="train"
        )
    else:
        runner = joblib.Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator_unordered")
        results = runner(jobs)
    by_task: dict[tuple[str, int], pd.DataFrame | None] = {}
    with tqdm(
        total=len(tasks), disable=not progress or client is not None, desc="train", unit="model"
    ) as bar:
        for target, h, fitted, part in results:
            forecasters[(target, h)] = fitted
            by_task[(target, h)] = part
            bar.update(1)
    # the same order whatever the completion order (threads or cluster)
    scores += [p for key in tasks if (p := by_task[key]) is not None]
    calibration_scores = _thin(
        pd.concat(scores, ignore_index=True)
        if scores
        else pd.DataFrame({"target": [], "horizon": [], "time": [], "score": [], "group": []})
    )
    logger.info(
        "train %s: %d forecasters fitted, %d calibration errors kept, in %.1f s",
        name,
        len(forecasters),
        len(calibration_scores),
        time.perf_counter() - t0,
    )
    training = {
        "start": data["time"].min().isoformat(),
        "end": end_ts.isoformat(),
        # The targets the served forecasters learned from end here (the calibration cut
        # without refit_final); later data only feeds their features.
        "fit_end": (end_ts if refit_final or not calibrate else end_ts - window).isoformat(),
        "last_flow": data.loc[data["flow"].notna(), "time"].max().isoformat(),
        "rows": len(data),
        "arcs": int(data["arc_id"].nunique()),
        "fingerprint": fingerprint(data),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return ForecastModel(
        model=name,
        params=dict(params or {}),
        horizons=tuple(hours),
        levels=levels_,
        delay=delay_h,
        forecasters=forecasters,
        scores=calibration_scores,
        calibrator=cal,
        training=training,
        stale_after=stale_h,
        metrics=metrics,
        validation=validation,
    )
