"""Score tables of a backtest report: point errors, intervals and traffic states.

All tables are long frames indexed by what they group on; the report (:mod:`._report`) decides
which rows are scored (those every model predicted) and how tables are shown. The metrics are
those of :mod:`infotrafic.backtest.metrics`: the tables average its per-pair terms by group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from infotrafic.backtest.metrics import (
    ERROR_TERMS,
    INTERVAL_TERMS,
    POINT_METRICS,
    accuracy,
    interval_terms,
    macro_f1,
    point_metrics,
)
from infotrafic.intervals import check_levels, local_hours

__all__ = ["error_table", "interval_levels", "interval_tables", "state_tables"]

_STATES = (1, 2, 3, 4)


def error_table(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Point-error metrics of the rows of ``df`` grouped by ``by``.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows with the columns of :data:`~infotrafic.backtest.metrics.ERROR_TERMS`, as made by
        :func:`~infotrafic.backtest.metrics.error_terms`.
    by : list of str
        Grouping columns.

    Returns
    -------
    pandas.DataFrame
        ``n`` and the metrics of :mod:`infotrafic.backtest.metrics` (``mae``, ``rmse``,
        ``bias``, ``mase``, ``wmape``).
    """
    g = df.groupby(by, observed=True, sort=True)
    means = g[list(ERROR_TERMS)].mean()
    scores = point_metrics({k: means[k].to_numpy() for k in ERROR_TERMS})
    out = pd.DataFrame({k: scores[k] for k in POINT_METRICS}, index=means.index)
    out.insert(0, "n", g["ae"].count().astype("int64"))
    return out


def interval_levels(predictions: pd.DataFrame) -> tuple[float, ...]:
    """Return the levels of the ``lo_<L>``/``hi_<L>`` column pairs of a prediction frame.

    Parameters
    ----------
    predictions : pandas.DataFrame
        A backtest's predictions.

    Returns
    -------
    tuple of float

    Examples
    --------
    >>> import pandas as pd
    >>> interval_levels(pd.DataFrame(columns=["y_pred", "lo_95", "hi_95", "lo_80", "hi_80"]))
    (80.0, 95.0)
    """
    levels = []
    for col in predictions.columns:
        if str(col).startswith("lo_") and f"hi_{str(col)[3:]}" in predictions.columns:
            try:
                levels.append(float(str(col)[3:]))
            except ValueError:
                continue
    return check_levels(levels)


def interval_tables(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coverage, mean width and Winkler score per model, level and horizon (and hour of day).

    Parameters
    ----------
    rows : pandas.DataFrame
        Scored prediction rows with ``model``, ``horizon``, ``time``, ``y_true`` and the
        interval columns.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        Indexed by ``(model, level, horizon)`` and ``(model, level, horizon, hour)``; columns
        ``n``, ``coverage``, ``width``, ``winkler``. Empty without interval columns.
    """
    levels = interval_levels(rows)
    cols = ["n", "coverage", "width", "winkler"]
    if not levels or rows.empty:
        empty = pd.DataFrame(columns=cols)
        return empty, empty.copy()
    y = rows["y_true"].to_numpy(dtype="float64")
    hour = local_hours(rows["time"])
    parts = []
    for level in levels:
        name = f"{level:g}"
        terms = interval_terms(y, rows[f"lo_{name}"], rows[f"hi_{name}"], level)
        ok = np.isfinite(terms["inside"])
        parts.append(
            pd.DataFrame(
                {
                    "model": rows["model"].to_numpy()[ok],
                    "level": level,
                    "horizon": rows["horizon"].to_numpy()[ok],
                    "hour": hour[ok],
                    **{k: terms[k][ok] for k in INTERVAL_TERMS},
                }
            )
        )
    long = pd.concat(parts, ignore_index=True)
    if isinstance(rows["model"].dtype, pd.CategoricalDtype):
        long["model"] = pd.Categorical(long["model"], categories=rows["model"].cat.categories)

    def table(by: list[str]) -> pd.DataFrame:
        g = long.groupby(by, observed=True, sort=True)
        out = g[list(INTERVAL_TERMS)].mean().rename(columns={"inside": "coverage"})
        out.insert(0, "n", g["inside"].count().astype("int64"))
        return out

    return table(["model", "level", "horizon"]), table(["model", "level", "horizon", "hour"])


def state_tables(states: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """State accuracy, macro-F1 and confusion counts per model and horizon.

    Scored on the rows (arc, hour, horizon) where every model, persistence included, forecast
    a state.

    Parameters
    ----------
    states : pandas.DataFrame or None
        A backtest's state frame (``state_true``, ``state_pred``, ...).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        Scores indexed by ``(model, horizon)`` (``n``, ``accuracy``, ``macro_f1``) and the
        confusion counts indexed by ``(model, horizon, state_true)`` with one column per
        forecast state ``1``-``4``. Empty frames without states.
    """
    if states is None or states.empty:
        return pd.DataFrame(columns=["n", "accuracy", "macro_f1"]), pd.DataFrame(columns=_STATES)
    s = states.loc[states["state_true"] > 0]
    n_models = s["model"].nunique()
    made = (s["state_pred"] > 0).astype("int64")
    key = pd.MultiIndex.from_arrays([s["horizon"], s["arc_id"], s["time"]])
    count = made.groupby(pd.factorize(key)[0]).transform("sum").to_numpy()
    common = s.loc[(made.to_numpy() == 1) & (count == n_models)]
    records = []
    confusion = []
    for (model, horizon), g in common.groupby(["model", "horizon"], observed=True, sort=True):
        t = g["state_true"].to_numpy()
        p = g["state_pred"].to_numpy()
        records.append(
            {
                "model": model,
                "horizon": horizon,
                "n": len(g),
                "accuracy": accuracy(t, p),
                "macro_f1": macro_f1(t, p),
            }
        )
        counts = pd.crosstab(t, p).reindex(index=_STATES, columns=_STATES, fill_value=0)
        counts.index.name = "state_true"
        counts = counts.assign(model=model, horizon=horizon)
        confusion.append(counts.reset_index().set_index(["model", "horizon", "state_true"]))
    if not records:
        return pd.DataFrame(columns=["n", "accuracy", "macro_f1"]), pd.DataFrame(columns=_STATES)
    scores = pd.DataFrame.from_records(records).set_index(["model", "horizon"])
    matrix = pd.concat(confusion)
    matrix.columns = list(_STATES)
    return scores, matrix.astype("int64")
