"""infotrafic dashboard: Paris traffic forecasts 1 to 24 hours ahead, on the real network.

Run from the repository root::

    streamlit run examples/dashboard/app.py

With no configuration it works offline on the bundled sample (arcs 4264, 5672, 191) and the
bundled network (every arc of the City of Paris referentiel). Set ``INFOTRAFIC_DATA_DIR`` to
use the parquet store under ``<data_dir>/processed`` and the champion model trained by the API
or the training service (MLflow's alias ``champion`` when tracking is on, else the model store
under ``<data_dir>/models``). Without any trained model, ``INFOTRAFIC_DASHBOARD_MODEL``
(default ``seasonal_naive``) is trained here. ``INFOTRAFIC_DASHBOARD_MODELS`` (comma-separated
forecaster names), ``INFOTRAFIC_DASHBOARD_WEEKS`` (backtest length) and
``INFOTRAFIC_DASHBOARD_PARAMS`` (JSON hyper-parameters by model, e.g.
``{"gbm": {"max_iter": 100}}``) tune the model comparison.
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

_HERE = Path(__file__).resolve().parent
for _path in (_HERE, _HERE.parent):  # dashboard_core, and the examples' shared `common` package
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import dashboard_core as core  # noqa: E402

st.set_page_config(page_title="infotrafic — Paris traffic forecasts", layout="wide")

# Full-width elements: ``width="stretch"`` on recent Streamlit, ``use_container_width`` before.
STRETCH: dict[str, Any] = (
    {"width": "stretch"}
    if "width" in inspect.signature(st.altair_chart).parameters
    else {"use_container_width": True}
)


def _data_dir() -> Path | None:
    value = os.environ.get("INFOTRAFIC_DATA_DIR")
    return Path(value) if value else None


def _model_names() -> tuple[str, ...]:
    value = os.environ.get("INFOTRAFIC_DASHBOARD_MODELS", "")
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    return names or core.DEFAULT_MODELS


def _forecast_model_name() -> str:
    return os.environ.get("INFOTRAFIC_DASHBOARD_MODEL", "").strip() or core.DEFAULT_FORECAST_MODEL


def _weeks() -> int:
    try:
        return max(1, int(os.environ.get("INFOTRAFIC_DASHBOARD_WEEKS", "4")))
    except ValueError:
        return 4


def _params() -> str:
    return os.environ.get("INFOTRAFIC_DASHBOARD_PARAMS", "")


@st.cache_resource
def mlflow_champions(data_dir: str | None) -> Any:
    """Where the MLflow champion is (the examples' settings), when reading a data dir."""
    if data_dir is None:
        return None
    from common.settings import ExampleSettings
    from common.tracking import ChampionCache

    settings = ExampleSettings(data_dir=Path(data_dir))
    return ChampionCache(settings) if settings.mlflow_enabled else None


@st.cache_resource(show_spinner="Loading data…")
def load(data_dir: str | None) -> core.DataSource:
    return core.load_data(Path(data_dir) if data_dir else None)


@st.cache_resource(show_spinner="Loading the network…")
def network(data_dir: str | None) -> pd.DataFrame:
    return core.network_arcs(load(data_dir).arcs)


@st.cache_data(show_spinner="Backtesting the models on the last weeks…")
def backtest(data_dir: str | None, names: tuple[str, ...], weeks: int, params: str) -> pd.DataFrame:
    return core.run_backtest(load(data_dir).panel, names, weeks, core.model_params(params))


@st.cache_resource(show_spinner="Training a forecast model on the data (no champion yet)…")
def trained(data_dir: str | None, name: str, params: str) -> core.Served:
    model = core.train_model(load(data_dir).panel, name, core.model_params(params).get(name, {}))
    return core.Served(model, f"{name} trained here (no trained model found)")


@st.cache_resource(show_spinner="Loading the champion model…", ttl=30)
def champion(data_dir: str | None) -> core.Served | None:
    path = Path(data_dir) if data_dir else None
    return core.champion_model(path, mlflow_champions(data_dir))


@st.cache_data(show_spinner="Forecasting every arc…", ttl=600)
def forecasts(data_dir: str | None, origin: str, _served: core.Served) -> tuple[Any, list[str]]:
    return core.forecast_all(_served.model, load(data_dir).panel)


def _map(
    background: pd.DataFrame, coloured: pd.DataFrame, dots: pd.DataFrame, selected: int
) -> alt.LayerChart:
    """The whole network drawn from its geometry (Mercator, no tiles: works offline).

    Grey: arcs without data; coloured by forecast state: arcs with data (click one to select
    it); ringed in black: the selected arc.
    """
    pick = alt.selection_point(name="pick", fields=["arc_id"], on="click", empty=False)
    names, colours = core.state_domain()
    state = alt.Color(
        "state:N",
        title="forecast state",
        scale=alt.Scale(domain=names, range=colours),
        legend=alt.Legend(orient="bottom", direction="horizontal"),
    )
    base = {"projection": {"type": "mercator"}}
    grid = (
        alt.Chart(background, **base)
        .mark_line(strokeWidth=1.2, color=core.NETWORK_COLOUR)
        .encode(longitude="lon:Q", latitude="lat:Q", detail="arc_id:N", order="order:Q")
    )
    lines = (
        alt.Chart(coloured, **base)
        .mark_line(strokeWidth=5)
        .encode(
            longitude="lon:Q", latitude="lat:Q", detail="arc_id:N", order="order:Q", color=state
        )
    )
    ring = (
        alt.Chart(dots[dots["arc_id"] == selected], **base)
        .mark_circle(size=520, color="black", opacity=0.9)
        .encode(longitude="lon:Q", latitude="lat:Q")
    )
    points = (
        alt.Chart(dots, **base)
        .mark_circle(size=200, opacity=1.0, stroke="white", strokeWidth=1.5)
        .encode(
            longitude="lon:Q",
            latitude="lat:Q",
            color=state,
            tooltip=[
                alt.Tooltip("label:N", title="arc"),
                alt.Tooltip("state:N", title="state"),
                alt.Tooltip("flow:Q", title="flow (veh/h)"),
            ],
        )
        .add_params(pick)
    )
    return alt.layer(grid, lines, ring, points).properties(height=560)


def _forecast_chart(
    recent: pd.DataFrame, ahead: pd.DataFrame, levels: list[float], horizon: int
) -> alt.LayerChart:
    """Observed flow, then the forecast with its prediction bands (widest first)."""
    x = alt.X("time:T", title="hour (Paris, end of the counting hour)")
    layers: list[Any] = []
    for level, opacity in zip(sorted(levels, reverse=True), (0.18, 0.35, 0.5), strict=False):
        lo, hi = f"lo_{level:g}", f"hi_{level:g}"
        band = ahead.assign(band=f"{level:g} % interval")
        layers.append(
            alt.Chart(band)
            .mark_area(opacity=opacity, color="#1f77b4")
            .encode(x=x, y=alt.Y(f"{lo}:Q", title="vehicles / hour"), y2=f"{hi}:Q")
        )
    layers.append(
        alt.Chart(recent.assign(series="observed"))
        .mark_line(color="#333333")
        .encode(x=x, y="flow:Q", tooltip=["time:T", "flow:Q"])
    )
    layers.append(
        alt.Chart(ahead)
        .mark_line(color="#1f77b4", strokeDash=[5, 3], point=True)
        .encode(x=x, y="flow:Q", tooltip=["time:T", "horizon:Q", "flow:Q", "state:N"])
    )
    chosen = ahead[ahead["horizon"] == horizon]
    layers.append(alt.Chart(chosen).mark_rule(color="#d62728", strokeWidth=2).encode(x=x))
    layers.append(
        alt.Chart(chosen)
        .mark_point(size=180, filled=True, color="#d62728")
        .encode(x=x, y="flow:Q", tooltip=["time:T", "horizon:Q", "flow:Q"])
    )
    return alt.layer(*layers).properties(height=340)


def main() -> None:
    data_dir = _data_dir()
    key = str(data_dir) if data_dir else None
    source = load(key)
    panel, arcs = source.panel, source.arcs
    arc_ids = core.arcs_with_data(panel)
    if not arc_ids:
        st.error(f"No flow data in {source.label}.")
        return
    labels = core.arc_labels(arcs, arc_ids)

    # A click on the map (in the previous run) selects the arc shown by the selectbox.
    core.sync_arc(st.session_state, labels)

    served = champion(key) or trained(key, _forecast_model_name(), _params())
    frame, notes = forecasts(key, served.origin, served)
    model = served.model
    horizons = list(model.horizons)
    if st.session_state.get("horizon") not in horizons:
        st.session_state["horizon"] = horizons[0]

    names = _model_names()
    weeks = _weeks()
    with st.sidebar:
        st.header("Arc and horizon")
        arc_id = st.selectbox(
            "Arc", arc_ids, format_func=lambda a: labels[a], key="arc_id", help="or click the map"
        )
        horizon = st.select_slider(
            "Horizon (hours ahead)",
            options=horizons,
            key="horizon",
            help="The map's colours and the red mark of the chart are the forecast at this "
            "horizon.",
        )
        days = st.slider("Days of history shown", 1, 14, 3, key="days")
        st.caption(f"Data: {source.label}.")
        st.caption(f"Forecasts: {model.model}, {served.origin}.")
        st.caption(core.SAMPLE_CREDIT)

    st.title("Paris road traffic, 1 to 24 hours ahead")
    first, last = panel["time"].min(), panel["time"].max()
    st.caption(
        f"{len(arc_ids)} arcs with data · {first:%Y-%m-%d} → {last:%Y-%m-%d %H:%M} UTC · "
        f"{source.label}"
    )

    states = core.state_of_arcs(frame, horizon)
    ahead = core.arc_forecast(frame, arc_id)
    row = ahead.loc[ahead["horizon"] == horizon]
    left, right = st.columns([3, 2])
    with left:
        st.subheader(f"The network, forecast state in {horizon} h")
        st.caption(
            "Every arc of the counting network (grey: no data). Arcs with data are coloured by "
            "their forecast traffic state; click one to select it (ringed in black)."
        )
        background, coloured, dots = core.map_layers(network(key), states, labels)
        st.altair_chart(
            _map(background, coloured, dots, arc_id),
            on_select="rerun",
            selection_mode="pick",
            key="map",
            **STRETCH,
        )
    with right:
        st.subheader(labels[arc_id])
        if len(row) and not bool(row["stale"].iloc[0]):
            r = row.iloc[0]
            target = pd.Timestamp(r["time"])
            st.metric(
                f"Flow in {horizon} h (hour ending {target:%Y-%m-%d %H:%M} Paris)",
                "n/a" if pd.isna(r["flow"]) else f"{r['flow']:.0f} veh/h",
            )
            st.caption(core.interval_text(r.to_dict(), list(model.levels)))
            if isinstance(r["state"], str):
                st.metric(
                    f"Traffic state in {horizon} h",
                    f"{r['state']} ({r['state_probability']:.0%})",
                )
        else:
            st.info("No forecast for this arc: its data stopped too long ago (stale).")
        observed = panel.loc[(panel["arc_id"] == arc_id) & panel["flow"].notna()]
        last_row = observed.loc[observed["time"].idxmax()]
        st.metric("Last observed flow", f"{last_row['flow']:.0f} veh/h")
        st.caption(
            f"Data up to {last_row['time']:%Y-%m-%d %H:%M} UTC; forecasts by {model.model} "
            f"({served.origin})."
        )
        for note in notes:
            st.caption(f"Note: {note}")

    bands = " and ".join(f"{x:g}" for x in model.levels)
    st.subheader(f"Recent flow and the forecast ahead, with its {bands} % bands")
    recent = core.recent_flow(panel, arc_id, days)
    st.altair_chart(_forecast_chart(recent, ahead, list(model.levels), horizon), **STRETCH)

    predictions = backtest(key, names, weeks, _params())
    st.header(f"Model comparison: one hour ahead, last {weeks} weeks, weekly refit")
    st.markdown("**MAE by model on this arc** (vehicles/hour)")
    st.dataframe(core.mae_by_model(predictions, arc_id), **STRETCH)
    st.markdown("**MAE by model, all arcs** (vehicles/hour)")
    st.dataframe(core.mae_by_model(predictions), **STRETCH)
    by_hour = core.mae_by(predictions, "hour")
    by_day = core.mae_by(predictions, "weekday")
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**MAE by hour of day** (Paris, hour ending)")
        st.line_chart(by_hour, height=280)
        st.dataframe(by_hour, **STRETCH)
    with c2:
        st.markdown("**MAE by weekday**")
        long = by_day.reset_index().melt("weekday", var_name="model", value_name="MAE")
        bars = (
            alt.Chart(long)
            .mark_bar()
            .encode(
                x=alt.X("weekday:N", sort=list(core.WEEKDAYS), title=""),
                xOffset="model:N",
                y=alt.Y("MAE:Q", title="MAE (veh/h)"),
                color="model:N",
            )
        )
        st.altair_chart(bars.properties(height=280), **STRETCH)
        st.dataframe(by_day, **STRETCH)


main()
