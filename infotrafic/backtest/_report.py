"""The backtest report: metrics overall, per arc, per hour of day and weekday; model comparison.

Scoring rules (documented in ``docs/backtesting.rst``):

* only targets with an observed ``y_true`` are in the prediction frame;
* ``overall`` scores each model on the rows it predicted (``y_pred`` not NaN) and reports its
  ``coverage`` (predicted / observed targets);
* ``comparison``, ``per_arc``, ``per_hour`` and ``per_weekday`` score every model on the **same**
  rows: those every model predicted (the intersection), so that models are compared fairly;
* with several horizons, rows are (horizon, arc, hour): every table but ``per_horizon`` pools
  the horizons, and ``per_horizon`` scores each horizon on the rows every model predicted at
  that horizon, with the MAE ratios to seasonal naive and naive at the same horizon;
* intervals (``lo_<L>``, ``hi_<L>`` columns) are scored on the common rows by coverage, mean
  width and Winkler score per model, level and horizon, and per hour of day;
* traffic states (the backtest's ``states`` frame) are scored by accuracy, macro-F1 and the
  confusion counts per model and horizon, on the rows where every model and persistence
  forecast a state;
* hour of day and weekday are those of the **start** of the counting hour in Paris local time
  (``time - 1 h``, converted to Europe/Paris); weekday 0 = Monday;
* MASE divides each absolute error by its arc's scale: the in-sample MAE of the seasonal naive
  forecast (168 h) over the panel's history before ``start``; arcs without such history get no
  MASE (NaN) and are left out of the MASE averages.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from infotrafic._io import atomic_write_text
from infotrafic._time import PARIS_TZ
from infotrafic._types import PathLike
from infotrafic.backtest._format import flat_index, format_table, json_records, paris_label
from infotrafic.backtest._load import group_arcs
from infotrafic.backtest._tables import error_table, interval_tables, state_tables
from infotrafic.backtest.metrics import POINT_METRICS, error_terms
from infotrafic.intervals import local_hours

__all__ = ["BacktestReport", "build_report", "format_table", "seasonal_scales"]

METRICS: tuple[str, ...] = POINT_METRICS
_REFERENCES: tuple[str, ...] = ("seasonal_naive", "naive")
_HOUR = pd.Timedelta(hours=1)


def seasonal_scales(panel: pd.DataFrame, before: pd.Timestamp, season: int = 168) -> pd.Series:
    """Per-arc in-sample MAE of the seasonal naive forecast on the history before a time.

    ``mean |flow(t) - flow(t - season h)|`` over the hours ``t < before`` where both flows are
    observed (the MASE denominator of :func:`infotrafic.backtest.metrics.mase`). Computed a
    batch of whole arcs at a time (:data:`SCALE_BATCH_ROWS` rows), each arc's mean exactly
    that of one pass: its working memory is a batch's, not a multiple of the panel.

    Parameters
    ----------
    panel : pandas.DataFrame
        Canonical panel.
    before : pandas.Timestamp
        Only rows with ``time < before`` are used (the backtest ``start``).
    season : int, default 168
        Season in hours.

    Returns
    -------
    pandas.Series
        Scale per ``arc_id`` (arcs without any usable pair are absent).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.date_range("2023-01-01", periods=4, freq="h", tz="UTC")
    >>> p = pd.DataFrame({"arc_id": 7, "time": t, "flow": [1.0, 2.0, 4.0, 8.0]})
    >>> seasonal_scales(p, pd.Timestamp("2024-01-01", tz="UTC"), season=2).to_dict()
    {7: 4.5}
    """
    parts = [_arc_scales(part, before, season) for part in arc_batches(panel, SCALE_BATCH_ROWS)]
    out = parts[0] if len(parts) == 1 else pd.concat(parts)
    out.name = "scale"
    return out.astype("float64")


#: :func:`seasonal_scales` works on batches of whole arcs of about this many panel rows.
SCALE_BATCH_ROWS = 2_000_000


def arc_batches(panel: pd.DataFrame, max_rows: int) -> list[pd.DataFrame]:
    """Cut a panel into batches of whole arcs, in ``arc_id`` order, of about ``max_rows`` rows.

    An arc is never split (a batch of one arc may be longer). A panel sorted by ``arc_id`` (as
    a validated one is) is cut into views; another is selected arc by arc.

    Parameters
    ----------
    panel : pandas.DataFrame
        Frame with an ``arc_id`` column.
    max_rows : int
        Rows per batch, at most (unless a single arc has more).

    Returns
    -------
    list of pandas.DataFrame
        At least one (the panel itself when it fits in one batch).

    Examples
    --------
    >>> p = pd.DataFrame({"arc_id": [1, 1, 2, 3, 3, 3]})
    >>> [b["arc_id"].tolist() for b in arc_batches(p, 3)]
    [[1, 1, 2], [3, 3, 3]]
    """
    if len(panel) <= max_rows:
        return [panel]
    arc = panel["arc_id"].to_numpy()
    if bool((arc[1:] >= arc[:-1]).all()):  # sorted: views of consecutive rows
        starts = np.flatnonzero(np.r_[True, arc[1:] != arc[:-1]])
        counts = np.diff(np.r_[starts, len(arc)])
        groups = group_arcs(arc[starts], counts, max_rows)
        sizes = np.cumsum([0, *(len(g) for g in groups)])
        rows = np.r_[starts, len(arc)][sizes]
        return [panel.iloc[a:b] for a, b in zip(rows[:-1], rows[1:], strict=True)]
    ids, counts = np.unique(arc, return_counts=True)
    return [panel.loc[panel["arc_id"].isin(g)] for g in group_arcs(ids, counts, max_rows)]


def _arc_scales(panel: pd.DataFrame, before: pd.Timestamp, season: int) -> pd.Series:
    """:func:`seasonal_scales` of some whole arcs (each arc's mean does not see the others)."""
    hist = panel.loc[(panel["time"] < before) & panel["flow"].notna(), ["arc_id", "time", "flow"]]
    lagged = hist.assign(time=hist["time"] + season * _HOUR).rename(columns={"flow": "lag"})
    both = hist.merge(lagged, on=["arc_id", "time"], how="inner")
    return (both["flow"] - both["lag"]).abs().groupby(both["arc_id"]).mean()


def _weekdays(time: pd.Series) -> np.ndarray:
    """Paris weekday (0 = Monday) of the start of each counting hour (per unique time)."""
    uniq, inv = np.unique(time.to_numpy(dtype="datetime64[ns]"), return_inverse=True)
    local = pd.DatetimeIndex(uniq).tz_localize("UTC").tz_convert(PARIS_TZ) - _HOUR
    return np.asarray(local.day_of_week.to_numpy()[inv])


def _add_ratios(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for ref in _REFERENCES:
        if ref in out.index:
            out[f"ratio_{ref}"] = out["mae"].to_numpy() / out["mae"].to_numpy()[out.index == ref][0]
    return out


def _horizon_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """``per_horizon`` with the MAE ratios to the reference models at the same horizon."""
    out = table.copy()
    models = out.index.get_level_values("model")
    horizons = out.index.get_level_values("horizon")
    for ref in _REFERENCES:
        if ref in set(models):
            ref_mae = out["mae"].xs(ref, level="model")
            out[f"ratio_{ref}"] = out["mae"].to_numpy() / ref_mae.reindex(horizons).to_numpy()
    return out


@dataclasses.dataclass(frozen=True)
class BacktestReport:
    """Scores of a backtest (see the module docs for the scoring rules).

    Attributes
    ----------
    config : dict
        The backtest options (JSON-friendly).
    models : tuple of str
        Model names, in the order given.
    n_targets : int
        Target arc-hours with an observed flow in the window.
    n_common : int
        Arc-hours predicted by every model (the rows of the comparison tables).
    overall : pandas.DataFrame
        Per model, on its own predicted rows: n_targets, n_predicted, coverage, metrics.
    comparison : pandas.DataFrame
        Per model on the common rows, sorted by MAE, with ``ratio_seasonal_naive`` and
        ``ratio_naive`` (MAE ratios) when those models are present.
    per_arc, per_hour, per_weekday : pandas.DataFrame
        Metrics on the common rows, indexed by (model, arc_id), (model, hour), (model, weekday).
    sample : pandas.DataFrame
        Actual vs predicted over the last week of the best-covered arc (for plots).
    per_horizon : pandas.DataFrame
        Metrics per (model, horizon) on the rows every model predicted at that horizon, with
        ``ratio_seasonal_naive`` and ``ratio_naive`` at the same horizon.
    intervals : pandas.DataFrame
        Per (model, level, horizon): ``n``, ``coverage``, ``width`` (mean), ``winkler`` (mean
        Winkler score); empty without intervals.
    intervals_per_hour : pandas.DataFrame
        The same per (model, level, horizon, hour of day).
    state_scores : pandas.DataFrame
        Per (model, horizon): ``n``, ``accuracy``, ``macro_f1`` of the traffic state, the model
        ``persistence`` included; empty without states.
    state_confusion : pandas.DataFrame
        Counts per (model, horizon, observed state) and forecast state (columns 1-4).
    """

    config: dict[str, Any]
    models: tuple[str, ...]
    n_targets: int
    n_common: int
    overall: pd.DataFrame
    comparison: pd.DataFrame
    per_arc: pd.DataFrame
    per_hour: pd.DataFrame
    per_weekday: pd.DataFrame
    sample: pd.DataFrame
    per_horizon: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    intervals: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    intervals_per_hour: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    state_scores: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    state_confusion: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)

    @property
    def horizons(self) -> list[int]:
        """The horizons scored, in hours."""
        if self.per_horizon.empty:
            return []
        return sorted({int(h) for h in self.per_horizon.index.get_level_values("horizon")})

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-friendly nested dicts and lists (NaN -> None).

        Returns
        -------
        dict
        """
        return {
            "config": self.config,
            "models": list(self.models),
            "n_targets": self.n_targets,
            "n_common": self.n_common,
            "overall": json_records(self.overall),
            "comparison": json_records(self.comparison),
            "per_arc": json_records(self.per_arc),
            "per_hour": json_records(self.per_hour),
            "per_weekday": json_records(self.per_weekday),
            "per_horizon": json_records(self.per_horizon),
            "intervals": json_records(self.intervals),
            "intervals_per_hour": json_records(self.intervals_per_hour),
            "state_scores": json_records(self.state_scores),
            "state_confusion": json_records(self.state_confusion),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """Serialise the report to JSON (strict: NaN becomes null).

        Parameters
        ----------
        indent : int, optional
            JSON indentation.

        Returns
        -------
        str
        """
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def write_json(self, path: PathLike) -> Path:
        """Write :meth:`to_json` to ``path`` atomically (temporary file + rename).

        Parameters
        ----------
        path : str or os.PathLike
            Destination file.

        Returns
        -------
        pathlib.Path
        """
        return atomic_write_text(path, self.to_json())

    def to_html(self, *, title: str = "infotrafic backtest") -> str:
        """Render a self-contained HTML page: tables and inline SVG plots.

        Parameters
        ----------
        title : str
            Page title.

        Returns
        -------
        str
        """
        from infotrafic.backtest._html import render_html

        return render_html(self, title=title)

    def write_html(self, path: PathLike, *, title: str = "infotrafic backtest") -> Path:
        """Write :meth:`to_html` to ``path`` atomically.

        Parameters
        ----------
        path : str or os.PathLike
            Destination file.
        title : str
            Page title.

        Returns
        -------
        pathlib.Path
        """
        return atomic_write_text(path, self.to_html(title=title))

    def to_text(self, *, per_arc: bool = False) -> str:
        """Render the comparison tables (and optionally per-arc tables) as aligned text.

        The model comparison, then with several horizons the MAE per horizon, with intervals
        their coverage, width and Winkler score, with states their accuracy and macro-F1.

        Parameters
        ----------
        per_arc : bool, default False
            Append one MAE table per arc.

        Returns
        -------
        str
        """
        cfg = self.config
        horizons = cfg.get("horizons_hours") or self.horizons or ["?"]
        lines = [
            f"Backtest {paris_label(cfg.get('start'))} -> {paris_label(cfg.get('end'))} Paris time "
            f"(targets: hours ending in [start, end)), "
            f"horizon {', '.join(str(h) for h in horizons)} h, "
            f"refit {cfg.get('refit')}, {cfg.get('window')} window"
            + (f" of {cfg.get('train_size')}" if cfg.get("train_size") else "")
            + f", delay {cfg.get('delay_hours')} h",
            f"Scored arc-hours common to all models: {self.n_common:,} "
            f"(of {self.n_targets:,} observed targets)",
            "",
        ]
        table = self.comparison.copy()
        table["coverage"] = self.overall["coverage"].reindex(table.index)
        if len(horizons) > 1:
            lines.append(f"All horizons pooled ({len(horizons)} forecasts per target):")
        lines.append(format_table(table, index_name="model"))
        if len(horizons) > 1:
            wide = self.per_horizon["mae"].unstack("model")
            wide = wide.reindex(columns=[m for m in self.comparison.index if m in wide.columns])
            lines += ["", "MAE per horizon (hours; common rows at each horizon)"]
            lines.append(format_table(wide, index_name="horizon"))
        if not self.intervals.empty:
            lines += ["", "Prediction intervals (common rows): coverage, mean width, Winkler score"]
            lines.append(format_table(flat_index(self.intervals), index_name="model / level / h"))
        if not self.state_scores.empty:
            lines += ["", "Traffic state from the occupancy forecast (vs persistence of the state)"]
            lines.append(format_table(flat_index(self.state_scores), index_name="model / h"))
        if per_arc and not self.per_arc.empty:
            wide = self.per_arc["mae"].unstack("model").reindex(columns=list(self.comparison.index))
            n = self.per_arc["n"].groupby(level="arc_id").max()
            wide.insert(0, "n", n)
            for ref in _REFERENCES:
                if ref in wide.columns and "gbm" in wide.columns and ref != "gbm":
                    wide[f"gbm/{ref}"] = wide["gbm"] / wide[ref]
            lines += ["", "MAE per arc (common rows)", format_table(wide, index_name="arc_id")]
        return "\n".join(lines)


def build_report(
    predictions: pd.DataFrame,
    *,
    scales: pd.Series | Mapping[int, float] | None = None,
    config: Mapping[str, Any] | None = None,
    models: Sequence[str] | None = None,
    states: pd.DataFrame | None = None,
) -> BacktestReport:
    """Score a long prediction frame (``arc_id, time, model, y_true, y_pred``).

    Parameters
    ----------
    predictions : pandas.DataFrame
        As produced by :func:`~infotrafic.backtest.backtest` (or read back from parquet); a
        ``horizon`` column (hours, 1 when absent) and ``lo_<L>``/``hi_<L>`` interval columns
        are scored when present.
    scales : pandas.Series or mapping, optional
        MASE scale per arc (see :func:`seasonal_scales`); without it MASE is NaN.
    config : mapping, optional
        Options to record in the report.
    models : sequence of str, optional
        Model order (default: categories or order of appearance).
    states : pandas.DataFrame, optional
        A backtest's traffic-state frame (:attr:`BacktestResult.states`).

    Returns
    -------
    BacktestReport
    """
    p = predictions
    if models is None:
        if isinstance(p["model"].dtype, pd.CategoricalDtype):
            models = [str(c) for c in p["model"].cat.categories]
        else:
            models = [str(m) for m in pd.unique(p["model"])]
    names = list(models)
    y = p["y_true"].to_numpy(dtype="float64")
    yp = p["y_pred"].to_numpy(dtype="float64")
    observed = np.isfinite(y)
    predicted = observed & np.isfinite(yp)
    model = p["model"].astype(str).to_numpy()
    arc = p["arc_id"].to_numpy()
    horizon = (
        p["horizon"].to_numpy(dtype="int64") if "horizon" in p.columns else np.ones(len(p), int)
    )
    scale_map = pd.Series(dict(scales) if isinstance(scales, Mapping) else scales, dtype="float64")
    scale = (
        pd.Series(arc).map(scale_map).to_numpy(dtype="float64")
        if scales is not None and len(scale_map)
        else np.full(len(p), np.nan)
    )
    frame = pd.DataFrame(
        {
            "model": pd.Categorical(model, categories=names),
            "arc_id": arc,
            "horizon": horizon,
            **error_terms(y, yp, scale),
        }
    )
    keys = pd.MultiIndex.from_arrays([horizon, arc, p["time"].to_numpy()])
    n_models = len(names)
    count = pd.Series(predicted.astype("int64")).groupby(pd.factorize(keys)[0]).transform("sum")
    common = predicted & (count.to_numpy() == n_models)
    frame["hour"] = local_hours(p["time"])
    frame["weekday"] = _weekdays(p["time"])

    own = error_table(frame.loc[predicted], ["model"]).reindex(names)
    n_obs = pd.Series(observed).groupby(frame["model"].to_numpy()).sum().reindex(names)
    overall = pd.DataFrame(
        {
            "n_targets": n_obs.fillna(0).astype("int64"),
            "n_predicted": own["n"].fillna(0).astype("int64"),
        }
    )
    overall["coverage"] = overall["n_predicted"] / overall["n_targets"].replace(0, np.nan)
    overall = overall.join(own[list(METRICS)])
    overall.index.name = "model"

    sub = frame.loc[common]
    comparison = error_table(sub, ["model"]).reindex(names)
    comparison = _add_ratios(comparison.sort_values("mae", kind="stable"))
    comparison.index.name = "model"
    per_arc = error_table(sub, ["model", "arc_id"])
    per_hour = error_table(sub, ["model", "hour"])
    per_weekday = error_table(sub, ["model", "weekday"])
    per_horizon = _horizon_ratios(error_table(sub, ["model", "horizon"]))
    intervals, intervals_per_hour = interval_tables(p.loc[common])
    state_scores, state_confusion = state_tables(states)

    first = common & (horizon == (horizon.min() if len(horizon) else 1))
    sample = _sample(p.loc[first], names)
    n_rows = len(np.unique(horizon)) if len(horizon) else 1
    n_targets = int(observed.sum() // max(n_models * n_rows, 1)) if n_models else 0
    return BacktestReport(
        config=dict(config or {}),
        models=tuple(names),
        n_targets=n_targets,
        n_common=int(first.sum() // max(n_models, 1)),
        overall=overall,
        comparison=comparison,
        per_arc=per_arc,
        per_hour=per_hour,
        per_weekday=per_weekday,
        sample=sample,
        per_horizon=per_horizon,
        intervals=intervals,
        intervals_per_hour=intervals_per_hour,
        state_scores=state_scores,
        state_confusion=state_confusion,
    )


def _sample(p: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Last week (168 h) of the best-covered arc, wide: time, y_true, one column per model."""
    cols = ["time", "y_true", *names]
    if p.empty:
        return pd.DataFrame(columns=cols)
    counts = p["arc_id"].value_counts()
    best = int(counts.index[counts.to_numpy() == counts.max()].min())
    one = p.loc[p["arc_id"] == best]
    last = one["time"].max()
    one = one.loc[one["time"] > last - 168 * _HOUR]
    wide = one.pivot_table(index="time", columns="model", values="y_pred", observed=True)
    truth = one.drop_duplicates("time").set_index("time")["y_true"]
    out = pd.DataFrame({"y_true": truth.astype("float64")})
    for name in names:
        out[name] = wide[name].astype("float64") if name in wide.columns else np.nan
    out = out.sort_index().reset_index()
    out.attrs["arc_id"] = best
    return out
