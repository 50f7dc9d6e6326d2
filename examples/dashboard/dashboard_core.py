"""Data work behind the Streamlit dashboard, free of any Streamlit call (so it is testable).

Everything goes through infotrafic's public API:

* the data: a :class:`infotrafic.etl.ParquetStore` under ``<data_dir>/processed`` when it holds
  data, otherwise the bundled sample (:func:`infotrafic.datasets.load_sample`);
* the network drawn on the map: every arc of the City of Paris referentiel
  (:func:`infotrafic.datasets.load_network`), completed by the data's own arcs table;
* the forecasts: :func:`infotrafic.forecasting.forecast` with the champion model (MLflow's
  alias ``champion`` when tracking is on, else the champion of the examples' model store under
  ``<data_dir>/models``), or a model trained here with :func:`infotrafic.forecasting.train`
  when there is none;
* the model comparison: :func:`infotrafic.backtest.backtest` over the last weeks of the data.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Collection, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from infotrafic import TRAFFIC_STATES

PARIS = "Europe/Paris"
HOUR = pd.Timedelta(hours=1)
#: Forecaster trained here when no model was trained yet (fast; train a better one with the API
#: or ``infotrafic train``, and the dashboard shows the champion).
DEFAULT_FORECAST_MODEL = "seasonal_naive"
#: Colour of each forecast traffic state (names from :data:`infotrafic.TRAFFIC_STATES`), from
#: fluid green to blocked dark red; arcs without a forecast (stale data) are grey.
STATE_COLOURS: dict[str, str] = dict(
    zip(
        (TRAFFIC_STATES[code] for code in (1, 2, 3, 4)),
        ("#1a9850", "#f4a300", "#d73027", "#67000d"),
        strict=True,
    )
)
NO_FORECAST = "no forecast"
NO_FORECAST_COLOUR = "#8c8c8c"
#: Colour of the arcs of the network without data.
NETWORK_COLOUR = "#c8c8c8"
#: Forecasters compared by default (registry names of infotrafic.forecasters).
DEFAULT_MODELS: tuple[str, ...] = ("naive", "seasonal_naive", "historical_average", "gbm")
#: Hyper-parameters given to make_forecaster, by name. One thread for LightGBM: the app shares the
#: machine, and OpenMP threads on busy cores slow a fit down by orders of magnitude.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {"gbm": {"n_jobs": 1}}
WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SAMPLE_CREDIT = "Ville de Paris — comptages routiers permanents (opendata.paris.fr), ODbL"


@dataclass(frozen=True)
class DataSource:
    """The panel and arcs table shown by the dashboard, and where they come from."""

    panel: pd.DataFrame
    arcs: pd.DataFrame
    label: str
    is_sample: bool


def load_data(data_dir: Path | None) -> DataSource:
    """The store under ``data_dir/processed`` when it holds data, else the bundled sample."""
    from common.data import load_arcs, load_panel, resolve_source

    source = resolve_source("auto", data_dir)
    panel = load_panel(source, data_dir)
    if source == "store" and not panel["flow"].notna().any():
        source, panel = "sample", load_panel("sample", None)
    arcs = load_arcs(source, data_dir)
    label = (
        f"store {Path(data_dir or '.') / 'processed'}" if source == "store" else "bundled sample"
    )
    return DataSource(panel, arcs, label, is_sample=source == "sample")


def arcs_with_data(panel: pd.DataFrame) -> list[int]:
    """Arc ids that have at least one flow value, sorted."""
    ids = panel.loc[panel["flow"].notna(), "arc_id"].unique()
    return sorted(int(a) for a in ids)


def arc_labels(arcs: pd.DataFrame, arc_ids: Iterable[int]) -> dict[int, str]:
    """``{arc_id: "4264 · Av_Champs_Elysees (Washington → Berri)"}`` from the arcs table."""
    by_id = arcs.drop_duplicates("arc_id", keep="last").set_index("arc_id") if len(arcs) else None
    out: dict[int, str] = {}
    for arc in arc_ids:
        label = str(arc)
        if by_id is not None and arc in by_id.index:
            row = by_id.loc[arc]
            name = _text(row.get("name"))
            up, down = _text(row.get("upstream_node_name")), _text(row.get("downstream_node_name"))
            if name:
                label += f" · {name}"
            if up and down:
                label += f" ({up} → {down})"
        out[int(arc)] = label
    return out


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip()


def _coordinates(geometry: Any) -> list[tuple[float, float]]:
    """(lon, lat) vertices of a LineString given as GeoJSON (dict or text), list or WKT."""
    if geometry is None or geometry is pd.NA:
        return []
    if isinstance(geometry, float):
        return []
    if isinstance(geometry, bytes):
        geometry = geometry.decode("utf-8", "replace")
    if isinstance(geometry, str):
        text = geometry.strip()
        if not text:
            return []
        if text.upper().startswith(("LINESTRING", "MULTILINESTRING")):
            body = text[text.index("(") :].replace("(", " ").replace(")", " ")
            pts = []
            for pair in body.split(","):
                parts = pair.split()
                if len(parts) >= 2:
                    pts.append((float(parts[0]), float(parts[1])))
            return pts
        try:
            geometry = json.loads(text)
        except ValueError:
            return []
    if isinstance(geometry, Mapping):
        kind = str(geometry.get("type", ""))
        coords = geometry.get("coordinates", [])
        if kind == "MultiLineString":
            coords = [p for line in coords for p in line]
        elif kind == "Point":
            coords = [coords]
        return [(float(p[0]), float(p[1])) for p in coords if len(p) >= 2]
    if isinstance(geometry, np.ndarray):
        geometry = geometry.tolist()
    if isinstance(geometry, Sequence):
        pts = []
        for p in geometry:
            if isinstance(p, np.ndarray):
                p = p.tolist()
            if isinstance(p, Sequence) and len(p) >= 2:
                pts.append((float(p[0]), float(p[1])))
        return pts
    return []


def picked_arc(map_state: Any) -> int | None:
    """The arc clicked on the map, from the Altair chart's selection state (param ``pick``)."""
    try:
        picks = map_state["selection"]["pick"]
    except (KeyError, TypeError):
        return None
    if not picks:
        return None
    value = picks[0].get("arc_id") if isinstance(picks[0], Mapping) else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def sync_arc(session: MutableMapping[str, Any], valid: Collection[int]) -> int:
    """Keep ``session["arc_id"]`` (the selectbox) in step with clicks on the map.

    A new click (different from the last one applied, kept in ``session["_last_pick"]``) wins;
    otherwise the selectbox value stays, or the first valid arc when it is unset or unknown.
    """
    picked = picked_arc(session.get("map"))
    if picked in valid and picked != session.get("_last_pick"):
        session["arc_id"] = picked
    session["_last_pick"] = picked
    if session.get("arc_id") not in valid:
        session["arc_id"] = min(valid)
    return int(session["arc_id"])


def arc_shapes(arcs: pd.DataFrame, arc_ids: Iterable[int]) -> pd.DataFrame:
    """Vertices to draw: one row per point (arc_id, order, lon, lat); falls back to lat/lon."""
    wanted = {int(a) for a in arc_ids}
    rows: list[dict[str, Any]] = []
    table = arcs.drop_duplicates("arc_id", keep="last") if len(arcs) else arcs
    for rec in table.to_dict("records"):
        arc = int(rec["arc_id"])
        if arc not in wanted:
            continue
        pts = _coordinates(rec.get("geometry"))
        if not pts:
            lat, lon = rec.get("lat"), rec.get("lon")
            if lat is None or lon is None or pd.isna(lat) or pd.isna(lon):
                continue
            pts = [(float(lon), float(lat))]
        for i, (lon, lat) in enumerate(pts):
            rows.append({"arc_id": arc, "order": i, "lon": lon, "lat": lat})
    return pd.DataFrame(rows, columns=["arc_id", "order", "lon", "lat"])


def arc_points(shapes: pd.DataFrame) -> pd.DataFrame:
    """One clickable point per arc: the middle vertex of its shape."""
    if shapes.empty:
        return shapes.copy()
    mid = shapes.groupby("arc_id", sort=True)[["lon", "lat"]].mean().reset_index()
    return mid


def model_params(overrides: str | None = None) -> dict[str, dict[str, Any]]:
    """:data:`DEFAULT_PARAMS` updated by a JSON mapping ``{"name": {"param": value}}``."""
    params = {name: dict(p) for name, p in DEFAULT_PARAMS.items()}
    if overrides:
        data = json.loads(overrides)
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise ValueError(
                "INFOTRAFIC_DASHBOARD_PARAMS must be a JSON object such as "
                '{"gbm": {"max_iter": 100}}'
            )
        for name, p in data.items():
            params.setdefault(str(name), {}).update(p)
    return params


def make_model(name: str, params: Mapping[str, Mapping[str, Any]]) -> Any:
    """``make_forecaster(name, **params[name])``."""
    from infotrafic.forecasters import make_forecaster

    return make_forecaster(name, **dict(params.get(name, {})))


def backtest_window(panel: pd.DataFrame, weeks: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` covering the last ``weeks`` weeks that have flows, on Paris midnights."""
    last = panel.loc[panel["flow"].notna(), "time"].max()
    end = last + HOUR
    start_local = (end - pd.Timedelta(weeks=weeks)).tz_convert(PARIS).normalize()
    start = start_local.tz_convert("UTC")
    return start, end


def run_backtest(
    panel: pd.DataFrame,
    names: Sequence[str],
    weeks: int,
    params: Mapping[str, Mapping[str, Any]],
) -> pd.DataFrame:
    """One-hour-ahead backtest of ``names`` over the last ``weeks`` weeks (weekly refit).

    Returns the long predictions frame (arc_id, time, model, cutoff, y_true, y_pred).
    """
    from infotrafic.backtest import backtest

    start, end = backtest_window(panel, weeks)
    models = {name: make_model(name, params) for name in names}
    result = backtest(panel, models, start=start, end=end, horizon=1, refit="7D")
    return pd.DataFrame(result.predictions)


def _scored(predictions: pd.DataFrame) -> pd.DataFrame:
    ok = predictions["y_true"].notna() & predictions["y_pred"].notna()
    out = predictions.loc[ok, ["arc_id", "time", "model", "y_true", "y_pred"]].copy()
    out["model"] = out["model"].astype(str)  # plain labels, not a categorical
    out["abs_error"] = (out["y_true"] - out["y_pred"]).abs()
    local = pd.DatetimeIndex(out["time"]).tz_convert(PARIS)
    out["hour"] = local.hour
    out["weekday"] = local.day_of_week
    return out


def mae_by_model(predictions: pd.DataFrame, arc_id: int | None = None) -> pd.DataFrame:
    """MAE (veh/h) and scored hours per model, best first; ``arc_id`` restricts to one arc."""
    scored = _scored(predictions)
    if arc_id is not None:
        scored = scored[scored["arc_id"] == arc_id]
    table = scored.groupby("model", sort=False)["abs_error"].agg(["mean", "size"])
    table = table.rename(columns={"mean": "MAE", "size": "hours"}).sort_values("MAE")
    table["MAE"] = table["MAE"].round(1)
    return table


def mae_by(predictions: pd.DataFrame, key: str, arc_id: int | None = None) -> pd.DataFrame:
    """MAE per ``key`` (``"hour"`` of day or ``"weekday"``, Paris time) and model (wide)."""
    scored = _scored(predictions)
    if arc_id is not None:
        scored = scored[scored["arc_id"] == arc_id]
    wide = scored.pivot_table(index=key, columns="model", values="abs_error", aggfunc="mean")
    wide = wide.round(1)
    wide.columns.name = None
    if key == "weekday":
        wide = wide.reindex(range(7))
        wide.index = pd.Index([WEEKDAYS[i] for i in wide.index], name="weekday")
    return wide


def network_arcs(arcs: pd.DataFrame) -> pd.DataFrame:
    """The whole network to draw: :func:`~infotrafic.datasets.load_network`, then ``arcs``.

    The data's own arcs table wins for the arcs it describes (newer geometry); arcs of the data
    missing from the referentiel are added.
    """
    from infotrafic.datasets import load_network

    network = load_network()
    if len(arcs) == 0:
        return network
    both = pd.concat([network, arcs.astype(network.dtypes.to_dict(), errors="ignore")])
    return both.drop_duplicates("arc_id", keep="last").reset_index(drop=True)


@dataclass(frozen=True)
class Served:
    """The model the dashboard forecasts with, and where it comes from."""

    model: Any  # infotrafic.forecasting.ForecastModel
    origin: str


def champion_model(data_dir: Path | None, mlflow: Any = None) -> Served | None:
    """The champion: MLflow's when tracking is on and its store exists, else the model store's.

    ``mlflow``: a ``common.tracking.ChampionCache`` (None when the dashboard has no data dir or
    tracking is off). Returns None when no model was trained.
    """
    if mlflow is not None and mlflow.enabled():
        found = mlflow.get()
        if found is not None:
            version, model = found
            return Served(model, f"MLflow champion {mlflow.settings.mlflow_model_name}/{version}")
    if data_dir is None:
        return None
    from common.modelstore import ModelStore

    store = ModelStore(Path(data_dir) / "models")
    record = store.champion()
    if record is None:
        return None
    return Served(store.load(record), f"champion {record.version} of the model store")


def train_model(panel: pd.DataFrame, name: str, params: Mapping[str, Any]) -> Any:
    """A forecast model for horizons 1-24 h trained here with the library (no champion yet)."""
    from infotrafic.forecasting import train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return train(panel, name, params=dict(params))


def forecast_all(model: Any, panel: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Forecast every arc at every horizon from the newest hour of the data, and the warnings."""
    from infotrafic.forecasting import forecast

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        frame = forecast(model, panel)
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    return frame, list(dict.fromkeys(notes))


def state_of_arcs(frame: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Per arc at ``horizon``: arc_id, state (or :data:`NO_FORECAST`), flow, probability."""
    rows = frame.loc[frame["horizon"] == horizon, ["arc_id", "state", "state_probability", "flow"]]
    out = rows.copy()
    out["state"] = out["state"].where(out["state"].notna(), NO_FORECAST).astype(str)
    return out.reset_index(drop=True)


def map_layers(
    network: pd.DataFrame, states: pd.DataFrame, labels: Mapping[int, str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """What the map draws: the grey network, the arcs with data coloured by state, their dots.

    Returns ``(background, coloured, dots)``: vertices (arc_id, order, lon, lat) of the arcs
    without data; vertices of the arcs with data with their ``state``; and one point per arc
    with data (its middle) with ``state``, ``label`` and ``flow`` for the tooltip.
    """
    with_data = {int(a) for a in labels}
    shapes = arc_shapes(network, network["arc_id"])
    background = shapes.loc[~shapes["arc_id"].isin(with_data)].reset_index(drop=True)
    by_arc = states.set_index("arc_id")["state"] if len(states) else pd.Series(dtype=object)
    coloured = shapes.loc[shapes["arc_id"].isin(with_data)].reset_index(drop=True)
    coloured["state"] = coloured["arc_id"].map(by_arc).fillna(NO_FORECAST).astype(str)
    dots = arc_points(coloured[["arc_id", "order", "lon", "lat"]])
    if len(dots):
        info = states.set_index("arc_id") if len(states) else None
        dots["state"] = dots["arc_id"].map(by_arc).fillna(NO_FORECAST).astype(str)
        dots["label"] = dots["arc_id"].map(labels)
        flow = info["flow"] if info is not None else pd.Series(dtype=float)
        dots["flow"] = dots["arc_id"].map(flow).round(0)
    return background, coloured, dots


def state_domain() -> tuple[list[str], list[str]]:
    """Colour scale of the map: (state names, colours), the grey "no forecast" last."""
    return [*STATE_COLOURS, NO_FORECAST], [*STATE_COLOURS.values(), NO_FORECAST_COLOUR]


def arc_forecast(frame: pd.DataFrame, arc_id: int) -> pd.DataFrame:
    """The forecast rows of one arc, ``time`` in Paris time, sorted by horizon."""
    rows = frame.loc[frame["arc_id"] == arc_id].sort_values("horizon").copy()
    rows["time"] = pd.DatetimeIndex(rows["time"]).tz_convert(PARIS)
    return rows.reset_index(drop=True)


def recent_flow(panel: pd.DataFrame, arc_id: int, days: int) -> pd.DataFrame:
    """Observed flow of the last ``days`` days of one arc (time in Paris time)."""
    actual = panel.loc[(panel["arc_id"] == arc_id) & panel["flow"].notna(), ["time", "flow"]]
    if actual.empty:
        return pd.DataFrame({"time": pd.Series(dtype=f"datetime64[ns, {PARIS}]"), "flow": []})
    since = actual["time"].max() - pd.Timedelta(days=days)
    out = actual.loc[actual["time"] > since].copy()
    out["time"] = pd.DatetimeIndex(out["time"]).tz_convert(PARIS)
    return out.reset_index(drop=True)


def interval_text(row: Mapping[str, Any], levels: Sequence[float]) -> str:
    """``"80 %: 950-1,560 · 95 %: 680-2,030 veh/h"`` from a forecast row."""
    from infotrafic.intervals import interval_columns

    parts = []
    for level in levels:
        lo_name, hi_name = interval_columns([level])
        lo, hi = row.get(lo_name), row.get(hi_name)
        if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
            continue
        parts.append(f"{level:g} %: {lo:,.0f}–{hi:,.0f}")
    return " · ".join(parts) + (" veh/h" if parts else "")
