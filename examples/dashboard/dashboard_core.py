"""Data work behind the Streamlit dashboard, free of any Streamlit call (so it is testable).

Everything goes through infotrafic's public API:

* the data: a :class:`infotrafic.etl.ParquetStore` under ``<data_dir>/processed`` when it holds
  data, otherwise the bundled sample (:func:`infotrafic.datasets.load_sample`);
* the forecasts: the newest fitted model of each name in the examples' model store
  (``<data_dir>/models``, written by ``POST /training`` of the API) when there is one, otherwise
  a forecaster from :func:`infotrafic.forecasters.make_forecaster` fitted here;
* the evaluation: :func:`infotrafic.backtest.backtest` over the last weeks of the data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PARIS = "Europe/Paris"
HOUR = pd.Timedelta(hours=1)
#: Forecasters compared by default (registry names of infotrafic.forecasters).
DEFAULT_MODELS: tuple[str, ...] = ("naive", "seasonal_naive", "historical_average", "gbm")
#: Hyper-parameters given to make_forecaster, by name. One thread for LightGBM: the app shares the
#: machine, and OpenMP threads on busy cores slow a fit down by orders of magnitude.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {"gbm": {"n_jobs": 1}}
WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SAMPLE_CREDIT = "Ville de Paris — comptages routiers permanents (opendata.paris.fr), ODbL"


#: A coarse outline of Paris along the Boulevard périphérique (its main gates, lon/lat), drawn
#: under the arcs so that the map has a frame of reference without any tiles from the internet.
PARIS_OUTLINE: tuple[tuple[str, float, float], ...] = (
    ("Porte Maillot", 2.2780, 48.8780),
    ("Porte de Clichy", 2.3130, 48.8940),
    ("Porte de la Chapelle", 2.3590, 48.8990),
    ("Porte de la Villette", 2.3860, 48.8970),
    ("Porte de Bagnolet", 2.4090, 48.8640),
    ("Porte de Vincennes", 2.4110, 48.8470),
    ("Porte de Charenton", 2.3990, 48.8300),
    ("Porte d'Italie", 2.3590, 48.8190),
    ("Porte d'Orléans", 2.3250, 48.8230),
    ("Porte de Versailles", 2.2870, 48.8320),
    ("Porte de Saint-Cloud", 2.2570, 48.8380),
    ("Porte d'Auteuil", 2.2560, 48.8480),
    ("Porte de la Muette", 2.2680, 48.8620),
    ("Porte Maillot", 2.2780, 48.8780),
)


def paris_outline() -> pd.DataFrame:
    """:data:`PARIS_OUTLINE` as a frame (order, name, lon, lat) closing on its first point."""
    return pd.DataFrame(
        [(i, name, lon, lat) for i, (name, lon, lat) in enumerate(PARIS_OUTLINE)],
        columns=["order", "name", "lon", "lat"],
    )


@dataclass(frozen=True)
class DataSource:
    """The panel and arcs table shown by the dashboard, and where they come from."""

    panel: pd.DataFrame
    arcs: pd.DataFrame
    label: str
    is_sample: bool


def load_data(data_dir: Path | None) -> DataSource:
    """The store under ``data_dir/processed`` when it holds rows, else the bundled sample."""
    if data_dir is not None:
        processed = Path(data_dir) / "processed"
        if processed.exists() and any(processed.iterdir()):
            from infotrafic.etl import ParquetStore

            store = ParquetStore(processed)
            panel = store.read()
            if len(panel) > 0 and panel["flow"].notna().any():
                arcs = store.arcs()
                return DataSource(panel, arcs, f"store {processed}", is_sample=False)
    from infotrafic.datasets import load_sample, load_sample_arcs

    return DataSource(load_sample(), load_sample_arcs(), "bundled sample", is_sample=True)


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


def fit_model(name: str, panel: pd.DataFrame, params: Mapping[str, Mapping[str, Any]]) -> Any:
    """A forecaster from the registry, fitted on the whole panel."""
    return make_model(name, params).fit(panel)


def next_hour(model: Any, panel: pd.DataFrame, arc_id: int) -> tuple[pd.Timestamp, float]:
    """The forecast for the hour after the last observed flow of ``arc_id``."""
    rows = panel.loc[(panel["arc_id"] == arc_id) & panel["flow"].notna(), "time"]
    if rows.empty:
        raise LookupError(f"arc {arc_id} has no flow in the data")
    target = rows.max() + HOUR
    targets = pd.DataFrame({"arc_id": np.array([arc_id], dtype="int64"), "time": [target]})
    targets["time"] = pd.to_datetime(targets["time"], utc=True).astype("datetime64[ns, UTC]")
    value = float(np.asarray(model.predict(panel, targets), dtype="float64")[0])
    return target, value


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
    out["weekday"] = local.dayofweek
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


def recent_frame(
    panel: pd.DataFrame, predictions: pd.DataFrame, arc_id: int, days: int
) -> pd.DataFrame:
    """Long frame (time, series, flow) of the last ``days`` days: actual flow and forecasts."""
    actual = panel.loc[(panel["arc_id"] == arc_id) & panel["flow"].notna(), ["time", "flow"]]
    if actual.empty:
        return pd.DataFrame(columns=["time", "series", "flow"])
    since = actual["time"].max() - pd.Timedelta(days=days)
    actual = actual[actual["time"] > since].assign(series="actual")
    preds = predictions.loc[
        (predictions["arc_id"] == arc_id) & (predictions["time"] > since),
        ["time", "model", "y_pred"],
    ].rename(columns={"model": "series", "y_pred": "flow"})
    out = pd.concat([actual[["time", "series", "flow"]], preds], ignore_index=True)
    out["time"] = pd.DatetimeIndex(out["time"]).tz_convert(PARIS)
    return out.dropna(subset=["flow"])


def stored_models(models_dir: Path | None) -> dict[str, Any]:
    """``{model name: ModelRecord}`` of the newest fitted models in the examples' model store.

    The store (``examples/common/modelstore.py``) is the one ``POST /training`` of the API writes.
    """
    if models_dir is None or not (Path(models_dir) / "index.json").exists():
        return {}
    from common.modelstore import ModelStore

    store = ModelStore(Path(models_dir))
    out: dict[str, Any] = {}
    for record in store.records():  # newest first
        out.setdefault(record.name, record)
    return out


def load_stored_model(models_dir: Path, record: Any) -> Any:
    """The fitted forecaster of a model-store record."""
    from common.modelstore import ModelStore

    return ModelStore(Path(models_dir)).load(record)
