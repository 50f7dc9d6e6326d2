"""Converters between the canonical panel and the Nixtla and Darts worlds.

infotrafic's canonical panel (see :func:`~infotrafic.validate_panel`) is a long frame with
``arc_id`` (int64), ``time`` (UTC tz-aware, the **end** of the counting hour), ``flow``,
``occupancy`` and the state codes. Other ecosystems shape the same data differently; the
conversions live here, at the edge, once:

* **Nixtla** (mlforecast, statsforecast, neuralforecast, utilsforecast): a long frame
  ``unique_id, ds, y`` plus exogenous columns -- :func:`to_nixtla`, :func:`from_nixtla`; a
  backtest's predictions in mlforecast's ``cross_validation`` layout -- :func:`to_cross_validation`.
* **Darts**: one ``TimeSeries`` per arc on a regular hourly grid -- :func:`to_darts`,
  :func:`from_darts` (Darts is optional: ``pip install 'infotrafic[darts]'``).

**Time convention.** By default ``ds`` (and a Darts time index) is the *same instant* as
``time``, the end of the counting hour, as a **timezone-naive UTC** timestamp (Nixtla's and
Darts' tools expect naive regular timestamps; UTC has no daylight-saving gaps or repeats, so an
hourly grid stays regular all year). ``label="start"`` labels each hour by its start
(``time - 1 h``) instead, and ``naive=False`` keeps ``ds`` tz-aware (UTC). The ``from_*``
functions take the same ``label`` and accept naive (read as UTC) or tz-aware timestamps.

**Round trips are lossless**: arcs with different spans, absent hours, NaN values, exact float
values and the canonical dtypes all come back (``from_nixtla(to_nixtla(p, exog="all"))`` and
``from_darts(to_darts(p, columns=...))`` equal ``validate_panel(p)`` on the columns carried).

This module depends only on the data contract, so every layer may use it (the Darts forecaster
adapter does).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from infotrafic._schema import to_hourly_grid, validate_panel
from infotrafic._time import hour_span
from infotrafic.exceptions import ConfigurationError, DataValidationError

__all__ = [
    "ABSENT_TIMES_KEY",
    "HourLabel",
    "from_darts",
    "from_nixtla",
    "to_cross_validation",
    "to_darts",
    "to_nixtla",
]

#: How a timestamp labels its counting hour: by its ``"end"`` (as the panel's ``time``) or
#: ``"start"``.
HourLabel = Literal["end", "start"]

#: Key of a Darts series' ``metadata`` listing the hours :func:`to_darts` added to the grid
#: (absent from the panel), so that :func:`from_darts` drops them again.
ABSENT_TIMES_KEY = "absent_times"

_HOUR = pd.Timedelta(hours=1)
_NIXTLA_COLUMNS = ("unique_id", "ds", "y")
_CV_KEYS = ("unique_id", "ds", "cutoff", "y")
_PREDICTION_COLUMNS = ("model", "arc_id", "time", "horizon", "origin", "y_true", "y_pred")


# ---------------------------------------------------------------------- time, one door
def _check_label(label: str) -> None:
    if label not in ("end", "start"):
        raise ConfigurationError(
            f"label must be 'end' (the hour's end, as the panel's time) or 'start', got {label!r}"
        )


def _naive_utc(times: pd.Series | pd.DatetimeIndex) -> pd.DatetimeIndex:
    """tz-aware times -> naive UTC DatetimeIndex (what Darts and Nixtla expect)."""
    return pd.DatetimeIndex(times).tz_convert("UTC").tz_localize(None)


def _to_ds(times: pd.Series | pd.Index, *, label: HourLabel, naive: bool) -> pd.DatetimeIndex:
    """Panel ``time`` (aware, end of the hour) -> outside timestamps in the given convention."""
    out = pd.DatetimeIndex(times).tz_convert("UTC")
    if label == "start":
        out = out - _HOUR
    return out.tz_localize(None) if naive else out


def _from_ds(values: pd.Series | pd.Index, *, label: HourLabel, field: str) -> pd.DatetimeIndex:
    """Outside timestamps (naive = UTC, or aware) -> panel ``time`` (aware UTC, end of hour)."""
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        raise DataValidationError(
            f"{field} must hold datetimes (naive UTC or tz-aware), got {values.dtype}; convert "
            "it with pd.to_datetime",
            field=field,
        )
    out = pd.DatetimeIndex(values)
    out = out.tz_localize("UTC") if out.tz is None else out.tz_convert("UTC")
    if label == "start":
        out = out + _HOUR
    return out.as_unit("ns")


# ---------------------------------------------------------------------- hourly grids
def _iter_arc_grids(
    panel: pd.DataFrame,
    columns: Sequence[str],
    arcs: Iterable[int] | None = None,
    end: Mapping[int, pd.Timestamp] | None = None,
) -> Iterator[tuple[int, pd.DatetimeIndex, NDArray[np.int64], NDArray[np.float64]]]:
    """Per arc (ascending): naive-UTC end-of-hour grid, observed positions, ``(n, k)`` values.

    The grid spans the arc's first to last row; hours absent from the panel are NaN. ``end``
    cuts each arc's rows after the given (aware) time, so nothing later is ever read.
    """
    cols = list(columns)
    wanted = None if arcs is None else {int(a) for a in arcs}
    for arc, group in panel.groupby("arc_id", sort=True):
        arc_id = int(cast(int, arc))
        if wanted is not None and arc_id not in wanted:
            continue
        if end is not None:
            if arc_id not in end:
                continue
            group = group[group["time"] <= end[arc_id]]
        if group.empty:
            continue
        index, pos = hour_span(_naive_utc(group["time"]))
        values = np.full((len(index), len(cols)), np.nan)
        values[pos] = group[cols].to_numpy(dtype="float64", na_value=np.nan)
        yield arc_id, index, pos, values


def _arc_grids(
    panel: pd.DataFrame,
    columns: str | Sequence[str],
    arcs: Sequence[int] | None = None,
    end: Mapping[int, pd.Timestamp] | None = None,
) -> dict[int, tuple[pd.DatetimeIndex, NDArray[np.float64]]]:
    """Per arc: naive-UTC hourly index and values (``(n,)`` one name, else ``(n, k)``)."""
    single = isinstance(columns, str)
    cols = [columns] if isinstance(columns, str) else list(columns)
    return {
        arc: (index, values[:, 0] if single else values)
        for arc, index, _, values in _iter_arc_grids(panel, cols, arcs, end)
    }


# ---------------------------------------------------------------------- Nixtla
def _value_columns(panel: pd.DataFrame, target: str, exog: Sequence[str] | str) -> list[str]:
    if target in ("arc_id", "time") or target not in panel.columns:
        raise DataValidationError(
            f"target {target!r} is not a value column of the panel "
            f"(columns: {[c for c in panel.columns if c not in ('arc_id', 'time')]})",
            field=target,
        )
    if isinstance(exog, str):
        if exog != "all":
            raise ConfigurationError(
                f"exog must be a sequence of column names or 'all', got {exog!r} (for one "
                f"column write exog=[{exog!r}])"
            )
        return [c for c in panel.columns if c not in ("arc_id", "time", target)]
    names = list(exog)
    bad = [c for c in names if c not in panel.columns or c in ("arc_id", "time", target)]
    if bad:
        raise DataValidationError(
            f"exogenous column(s) {bad} are not value columns of the panel other than the "
            f"target {target!r}",
            field=str(bad[0]),
        )
    clash = [c for c in names if c in _NIXTLA_COLUMNS]
    if clash:
        raise DataValidationError(
            f"exogenous column(s) {clash} would clash with Nixtla's {list(_NIXTLA_COLUMNS)}; "
            "rename them first",
            field=str(clash[0]),
        )
    if len(set(names)) != len(names):
        raise ConfigurationError(f"exog names a column twice: {names}")
    return names


def to_nixtla(
    panel: pd.DataFrame,
    *,
    target: str = "flow",
    exog: Sequence[str] | Literal["all"] = (),
    label: HourLabel = "end",
    naive: bool = True,
    fill_gaps: bool = False,
) -> pd.DataFrame:
    """Convert a canonical panel to Nixtla's long format ``unique_id, ds, y`` (+ exogenous).

    The frame mlforecast, statsforecast, neuralforecast and utilsforecast take.

    Parameters
    ----------
    panel : pandas.DataFrame
        A canonical panel (validated on entry; never mutated).
    target : str, default "flow"
        The panel column that becomes ``y``.
    exog : sequence of str or "all", default ()
        Panel columns copied as exogenous columns under their own names; ``"all"`` copies every
        column but ``arc_id``, ``time`` and the target (what a lossless round trip of the whole
        panel needs). None by default because Nixtla's tools give extra columns a meaning:
        mlforecast's ``fit`` treats them as *static* features unless told otherwise
        (``static_features=[]``) and statsforecast as exogenous regressors whose future values
        ``forecast`` then needs (``X_df``).
    label : {"end", "start"}, default "end"
        ``"end"``: ``ds`` is the end of the counting hour, the same instant as ``time``;
        ``"start"``: ``ds = time - 1 h``, the hour's start.
    naive : bool, default True
        Give ``ds`` as timezone-naive UTC timestamps (``datetime64[ns]``), as Nixtla's tools
        expect; False keeps them tz-aware UTC.
    fill_gaps : bool, default False
        Put every arc on its regular hourly grid first (:func:`~infotrafic.to_hourly_grid`):
        absent hours become rows with NaN values. Nixtla's lags and seasonal models count rows,
        not hours, so models that need regular series want this. The round trip then returns
        the gridded panel.

    Returns
    -------
    pandas.DataFrame
        Columns ``unique_id`` (int64: the arc id, kept numeric), ``ds``, ``y`` (float64; NaN
        where the panel has NaN) and the exogenous columns with their panel dtypes, one row per
        panel row, sorted by ``(unique_id, ds)``.

    Raises
    ------
    DataValidationError
        When the panel is invalid or a named column is missing or clashes with Nixtla's names.

    See Also
    --------
    from_nixtla : The inverse.

    Examples
    --------
    >>> from infotrafic.datasets import load_sample
    >>> panel = load_sample()
    >>> df = to_nixtla(panel, exog=["occupancy"])
    >>> df.columns.tolist(), str(df["ds"].dtype)
    (['unique_id', 'ds', 'y', 'occupancy'], 'datetime64[ns]')
    >>> df.iloc[0]["ds"], panel.iloc[0]["time"]  # the same instant: the hour's end, in UTC
    (Timestamp('2022-11-01 03:00:00'), Timestamp('2022-11-01 03:00:00+0000', tz='UTC'))
    >>> to_nixtla(panel, label="start").iloc[0]["ds"]
    Timestamp('2022-11-01 02:00:00')
    """
    _check_label(label)
    panel = validate_panel(panel)
    names = _value_columns(panel, target, exog)
    if fill_gaps:
        panel = to_hourly_grid(panel)
    data: dict[str, Any] = {
        "unique_id": panel["arc_id"].to_numpy(dtype="int64"),
        "ds": _to_ds(panel["time"], label=label, naive=naive).array,
        "y": panel[target].to_numpy(dtype="float64", na_value=np.nan),
    }
    for col in names:
        data[col] = panel[col].array
    return pd.DataFrame(data)


def _arc_ids(values: pd.Series, field: str) -> NDArray[np.int64]:
    try:
        ids = np.asarray(values, dtype="float64")
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"{field} must hold integer arc ids", field=field) from exc
    if not np.all(np.isfinite(ids) & (np.mod(ids, 1) == 0)):
        raise DataValidationError(f"{field} must hold whole-number arc ids", field=field)
    return ids.astype("int64")


def from_nixtla(
    df: pd.DataFrame,
    *,
    target: str = "flow",
    y: str = "y",
    label: HourLabel = "end",
    validate: bool = True,
) -> pd.DataFrame:
    """Convert a Nixtla long frame (``unique_id, ds, y``, ...) back to a canonical panel.

    Parameters
    ----------
    df : pandas.DataFrame
        A frame with ``unique_id`` (arc ids: integers or strings of digits), ``ds`` (naive
        timestamps read as UTC, or tz-aware ones) and the value column ``y``; every other column
        is kept under its own name (exogenous columns, or model columns of a forecast).
    target : str, default "flow"
        The panel column ``y`` becomes.
    y : str, default "y"
        The column holding the values, e.g. a model's column of mlforecast's ``predict`` output
        (``y="LGBMRegressor"``).
    label : {"end", "start"}, default "end"
        What ``ds`` labels: the end of the counting hour (``time = ds``) or its start
        (``time = ds + 1 h``); use the value given to :func:`to_nixtla`.
    validate : bool, default True
        Return a canonical panel (:func:`~infotrafic.validate_panel`: canonical columns added
        and typed, sorted by ``(arc_id, time)``; raises on negative values or repeated hours).
        False only converts ``unique_id`` and ``ds`` (to ``arc_id`` int64 and ``time``
        ``datetime64[ns, UTC]``), renames ``y`` and keeps the rows as they are -- for a model's
        forecasts, which may be negative.

    Returns
    -------
    pandas.DataFrame
        The panel.

    Raises
    ------
    DataValidationError
        When a column is missing or clashes, or the result breaks the panel contract.

    See Also
    --------
    to_nixtla : The inverse.

    Examples
    --------
    >>> from infotrafic import validate_panel
    >>> from infotrafic.datasets import load_sample
    >>> panel = load_sample()
    >>> back = from_nixtla(to_nixtla(panel, exog="all"))
    >>> back.equals(validate_panel(panel))
    True
    """
    _check_label(label)
    if not isinstance(df, pd.DataFrame):
        raise DataValidationError(f"expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in ("unique_id", "ds", y) if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"Nixtla frame: missing column(s) {missing}; it needs unique_id, ds and {y!r}",
            field=str(missing[0]),
        )
    others = [c for c in df.columns if c not in ("unique_id", "ds", y)]
    clash = [c for c in others if c in ("arc_id", "time", target)]
    if clash:
        raise DataValidationError(
            f"Nixtla frame: column(s) {clash} would clash with the panel's arc_id, time or the "
            f"target {target!r}; drop or rename them",
            field=str(clash[0]),
        )
    data: dict[str, Any] = {
        "arc_id": df["unique_id"].to_numpy(),
        "time": _from_ds(df["ds"], label=label, field="ds").array,
        target: df[y].array,
    }
    for col in others:
        data[col] = df[col].array
    out = pd.DataFrame(data)
    if not validate:
        out["arc_id"] = _arc_ids(out["arc_id"], "unique_id")
        return out
    if "flow" not in out.columns:
        out["flow"] = np.nan
    return validate_panel(out, name="Nixtla frame")


def to_cross_validation(
    predictions: pd.DataFrame,
    *,
    horizon: int | Iterable[int] | None = None,
    intervals: bool = True,
    label: HourLabel = "end",
    naive: bool = True,
) -> pd.DataFrame:
    """Pivot a backtest's predictions to mlforecast's ``cross_validation`` layout.

    One row per (arc, target hour, origin) and one column per model, as
    ``MLForecast.cross_validation`` returns, so utilsforecast's ``evaluate`` and any tool built
    for that layout read infotrafic's backtests.

    Parameters
    ----------
    predictions : pandas.DataFrame
        :attr:`BacktestResult.predictions <infotrafic.backtest.BacktestResult>`: columns
        ``model, arc_id, time, horizon, origin, y_true, y_pred`` and optionally ``lo_<L>``,
        ``hi_<L>``.
    horizon : int or iterable of int, optional
        Keep only these horizons (hours). By default every horizon is kept: rows stay unique
        because the cutoff of a target differs with the horizon (``cutoff = ds - horizon -
        delay``), as in mlforecast's output where each cutoff forecasts several ``ds``. Select
        one horizon to score it alone (utilsforecast's ``evaluate`` groups by ``unique_id``).
    intervals : bool, default True
        Add the prediction intervals as mlforecast names them: ``<model>-lo-<L>`` and
        ``<model>-hi-<L>`` from ``lo_<L>`` and ``hi_<L>``.
    label : {"end", "start"}, default "end"
        The time convention of ``ds`` and ``cutoff`` (see :func:`to_nixtla`).
    naive : bool, default True
        Timezone-naive UTC ``ds`` and ``cutoff`` (False: tz-aware UTC).

    Returns
    -------
    pandas.DataFrame
        Columns ``unique_id`` (int64 arc id), ``ds`` (the target hour), ``cutoff`` (the
        forecast origin: the newest hour of data the forecast could use, ``origin`` in the
        predictions), ``y`` (the observed flow) and one float64 column per model (its ``y_pred``,
        NaN where it could not predict), then the interval columns; sorted by
        ``(unique_id, ds, cutoff)``. Values are the predictions' float32 values, widened exactly.
        The refit time ``fitted_at`` has no place in this layout and is dropped.

    Raises
    ------
    DataValidationError
        When a column is missing, a horizon is not in the predictions, a model is named like a
        key column, or a (model, arc, time, origin) row repeats.

    Examples
    --------
    >>> from infotrafic.backtest import backtest
    >>> from infotrafic.datasets import load_sample
    >>> from infotrafic.forecasters import make_forecaster
    >>> models = {"naive": make_forecaster("naive"),
    ...           "seasonal_naive": make_forecaster("seasonal_naive")}
    >>> result = backtest(load_sample(), models, start="2023-06-01", end="2023-06-02",
    ...                   horizon=[1, 24], arcs=[4264])
    >>> cv = to_cross_validation(result.predictions, horizon=24)
    >>> cv.columns.tolist()
    ['unique_id', 'ds', 'cutoff', 'y', 'naive', 'seasonal_naive']
    >>> row = cv.iloc[0]
    >>> row["ds"] - row["cutoff"]
    Timedelta('1 days 00:00:00')
    """
    _check_label(label)
    missing = [c for c in _PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise DataValidationError(
            f"predictions: missing column(s) {missing}; pass a BacktestResult.predictions frame",
            field=str(missing[0]),
        )
    pred = predictions
    if horizon is not None:
        wanted = [int(horizon)] if isinstance(horizon, int | np.integer) else list(horizon)
        available = sorted(int(h) for h in pd.unique(pred["horizon"]))
        absent = [h for h in wanted if h not in available]
        if absent:
            raise DataValidationError(
                f"predictions have no horizon {absent}; available: {available}", field="horizon"
            )
        pred = pred[pred["horizon"].isin(wanted)]
    model_col = pred["model"]
    if isinstance(model_col.dtype, pd.CategoricalDtype):
        present = set(model_col.astype(str))
        models = [str(m) for m in model_col.cat.categories if str(m) in present]
    else:
        models = [str(m) for m in pd.unique(model_col)]
    clash = [m for m in models if m in _CV_KEYS]
    if clash:
        raise DataValidationError(
            f"model name(s) {clash} clash with the cross-validation columns {list(_CV_KEYS)}",
            field="model",
        )
    levels = [
        str(c)[3:]
        for c in pred.columns
        if str(c).startswith("lo_") and f"hi_{str(c)[3:]}" in pred.columns
    ]
    values = ["y_pred"] + (
        [f"{side}_{lv}" for lv in levels for side in ("lo", "hi")] if intervals else []
    )
    keys = ["arc_id", "time", "origin"]
    frame = pred[[*keys, "model", "y_true", *values]].assign(model=model_col.astype(str))
    if frame.duplicated([*keys, "model"]).any():
        raise DataValidationError(
            "predictions repeat a (model, arc_id, time, origin) row; deduplicate them first",
            field="model",
        )
    wide = frame.set_index([*keys, "model"])[values].unstack("model").sort_index()
    y_true = frame.drop_duplicates(keys).set_index(keys)["y_true"].reindex(wide.index)
    index = wide.index
    data: dict[str, Any] = {
        "unique_id": index.get_level_values("arc_id").to_numpy(dtype="int64"),
        "ds": _to_ds(index.get_level_values("time"), label=label, naive=naive).array,
        "cutoff": _to_ds(index.get_level_values("origin"), label=label, naive=naive).array,
        "y": y_true.to_numpy(dtype="float64"),
    }
    for model in models:
        data[model] = wide[("y_pred", model)].to_numpy(dtype="float64")
        if intervals:
            for lv in levels:
                data[f"{model}-lo-{lv}"] = wide[(f"lo_{lv}", model)].to_numpy(dtype="float64")
                data[f"{model}-hi-{lv}"] = wide[(f"hi_{lv}", model)].to_numpy(dtype="float64")
    return pd.DataFrame(data)


# ---------------------------------------------------------------------- Darts
def _import_darts() -> Any:
    """Import darts lazily (a heavy optional dependency), naming the extra when absent."""
    try:
        return importlib.import_module("darts")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigurationError(
            "Darts support needs the darts package: pip install 'infotrafic[darts]'"
        ) from exc


def to_darts(
    panel: pd.DataFrame,
    *,
    columns: str | Sequence[str] = "flow",
    arcs: Iterable[int] | None = None,
    label: HourLabel = "end",
) -> dict[int, Any]:
    """Convert a canonical panel to one Darts ``TimeSeries`` per arc.

    Each arc's series spans its first to last hour on a regular hourly grid with a naive UTC
    index (the end of the counting hour by default, like ``time``); hours absent from the panel
    are NaN, and listed in the series' ``metadata`` (``"absent_times"``, with ``"arc_id"``) so
    that :func:`from_darts` drops them again. No static covariates are attached (Darts' global
    models would turn them into features).

    Parameters
    ----------
    panel : pandas.DataFrame
        A canonical panel (validated on entry; never mutated).
    columns : str or sequence of str, default "flow"
        The numeric panel column(s) to convert; several give a multivariate series with one
        component per column (e.g. the target ``"flow"`` and past covariates ``"occupancy"``
        are usually converted separately). Nullable integer columns become float, ``<NA>``
        becoming NaN.
    arcs : iterable of int, optional
        Restrict to these arcs.
    label : {"end", "start"}, default "end"
        Index each hour by its end (as ``time``) or its start (``time - 1 h``).

    Returns
    -------
    dict of int to darts.TimeSeries
        One series per arc, in ascending arc order (``list(...values())`` for a global model).

    Raises
    ------
    DataValidationError
        When the panel is invalid or a column is missing or not numeric.
    ConfigurationError
        When darts is not installed.

    See Also
    --------
    from_darts : The inverse.

    Examples
    --------
    >>> from infotrafic.datasets import load_sample
    >>> series = to_darts(load_sample(), columns=["flow", "occupancy"])
    >>> s = series[4264]
    >>> list(s.components), s.freq_str, s.time_index.tz is None
    (['flow', 'occupancy'], 'h', True)
    >>> s.start_time(), s.metadata["arc_id"]
    (Timestamp('2022-11-01 03:00:00'), 4264)
    """
    darts = _import_darts()
    _check_label(label)
    panel = validate_panel(panel)
    cols = [columns] if isinstance(columns, str) else list(columns)
    bad = [c for c in cols if c not in panel.columns or c in ("arc_id", "time")]
    if not cols or bad:
        raise DataValidationError(
            f"columns must name value columns of the panel, got {cols}", field=str((bad or [""])[0])
        )
    out: dict[int, Any] = {}
    try:
        grids = list(_iter_arc_grids(panel, cols, arcs))
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"columns {cols} must be numeric: {exc}", field=cols[0]) from exc
    for arc, index, pos, values in grids:
        if label == "start":
            index = index - _HOUR
        metadata = {"arc_id": arc, ABSENT_TIMES_KEY: index.delete(pos)}
        out[arc] = darts.TimeSeries.from_times_and_values(
            index, values, columns=cols, freq="h", metadata=metadata
        )
    return out


def _series_items(series: Mapping[int, Any] | Sequence[Any] | Any) -> list[tuple[int, Any]]:
    if isinstance(series, Mapping):
        return [(int(arc), s) for arc, s in series.items()]
    items = [series] if hasattr(series, "time_index") else list(series)
    out = []
    for k, s in enumerate(items):
        arc = (getattr(s, "metadata", None) or {}).get("arc_id")
        if arc is None:
            raise DataValidationError(
                f"series {k} has no 'arc_id' in its metadata; pass a mapping {{arc_id: series}}",
                field="arc_id",
            )
        out.append((int(arc), s))
    return out


def from_darts(
    series: Mapping[int, Any] | Sequence[Any] | Any,
    *,
    columns: Sequence[str] | None = None,
    label: HourLabel = "end",
    validate: bool = True,
) -> pd.DataFrame:
    """Convert per-arc Darts ``TimeSeries`` back to a canonical panel.

    Parameters
    ----------
    series : mapping of int to darts.TimeSeries, or sequence of them, or one
        Series keyed by arc id; a sequence (or a single series) takes each arc id from the
        series' ``metadata["arc_id"]``, which :func:`to_darts` sets and Darts models copy to
        their forecasts. Indexes are naive (read as UTC) or tz-aware; series must be
        deterministic (take e.g. ``s.quantile(0.5)`` of a probabilistic forecast first).
    columns : sequence of str, optional
        Names of the components' columns; by default the component names.
    label : {"end", "start"}, default "end"
        What the index labels: the end of the counting hour (``time`` = index) or its start;
        use the value given to :func:`to_darts`.
    validate : bool, default True
        Return a canonical panel (:func:`~infotrafic.validate_panel`: canonical columns added
        and typed, sorted; raises on negative values). False returns only ``arc_id`` (int64),
        ``time`` (``datetime64[ns, UTC]``) and float64 value columns, in the input order -- for
        a model's forecasts, which may be negative.

    Returns
    -------
    pandas.DataFrame
        One row per hour of each series, except the hours listed in its
        ``metadata["absent_times"]`` (added to the grid by :func:`to_darts`).

    Raises
    ------
    DataValidationError
        When a series has no arc id, a non-datetime index, a number of components other than
        ``len(columns)``, or the result breaks the panel contract.

    See Also
    --------
    to_darts : The inverse.

    Examples
    --------
    >>> from infotrafic import validate_panel
    >>> from infotrafic.datasets import load_sample
    >>> panel = load_sample()
    >>> back = from_darts(to_darts(panel, columns=["flow", "occupancy"]))
    >>> back.equals(validate_panel(panel[["arc_id", "time", "flow", "occupancy"]]))
    True
    """
    _check_label(label)
    frames = []
    names: list[str] = list(columns) if columns is not None else []
    for arc, s in _series_items(series):
        if not getattr(s, "is_deterministic", True):
            raise DataValidationError(
                f"the series of arc {arc} is probabilistic; convert e.g. s.quantile(0.5)",
                field="arc_id",
            )
        names = list(columns) if columns is not None else [str(c) for c in s.components]
        values = np.asarray(s.values(copy=False), dtype="float64")
        if values.shape[1] != len(names):
            raise DataValidationError(
                f"the series of arc {arc} has {values.shape[1]} component(s) for columns {names}",
                field=names[0] if names else None,
            )
        times = _from_ds(s.time_index, label=label, field="time_index")
        absent = (getattr(s, "metadata", None) or {}).get(ABSENT_TIMES_KEY)
        keep = np.ones(len(times), dtype=bool)
        if absent is not None and len(absent):
            keep = ~times.isin(_from_ds(pd.DatetimeIndex(absent), label=label, field="metadata"))
        data: dict[str, Any] = {
            "arc_id": np.full(int(keep.sum()), arc, dtype="int64"),
            "time": times[keep].array,
        }
        for j, name in enumerate(names):
            data[name] = values[keep, j]
        frames.append(pd.DataFrame(data))
    if frames:
        out = pd.concat(frames, ignore_index=True)
    else:
        out = pd.DataFrame(
            {
                "arc_id": pd.Series(dtype="int64"),
                "time": pd.Series(dtype="datetime64[ns, UTC]"),
                **{name: pd.Series(dtype="float64") for name in (names or ["flow"])},
            }
        )
    if not validate:
        return out
    if "flow" not in out.columns:
        out["flow"] = np.nan
    return validate_panel(out, name="Darts series")
