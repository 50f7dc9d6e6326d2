"""infotrafic dashboard: one-hour-ahead traffic forecasts for Paris arcs.

Run from the repository root::

    streamlit run examples/dashboard/app.py

With no configuration it works offline on the bundled sample (arcs 4264, 5672, 191). Set
``INFOTRAFIC_DATA_DIR`` to use the parquet store under ``<data_dir>/processed`` and the models
trained by the API (``<data_dir>/models``). ``INFOTRAFIC_DASHBOARD_MODELS`` (comma-separated
forecaster names), ``INFOTRAFIC_DASHBOARD_WEEKS`` (backtest length) and
``INFOTRAFIC_DASHBOARD_PARAMS`` (JSON hyper-parameters by model, e.g.
``{"gbm": {"max_iter": 100}}``) tune the comparison.
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


def _weeks() -> int:
    try:
        return max(1, int(os.environ.get("INFOTRAFIC_DASHBOARD_WEEKS", "4")))
    except ValueError:
        return 4


def _params() -> str:
    return os.environ.get("INFOTRAFIC_DASHBOARD_PARAMS", "")


@st.cache_resource(show_spinner="Loading data…")
def load(data_dir: str | None) -> core.DataSource:
    return core.load_data(Path(data_dir) if data_dir else None)


@st.cache_data(show_spinner="Backtesting the models on the last weeks…")
def backtest(data_dir: str | None, names: tuple[str, ...], weeks: int, params: str) -> pd.DataFrame:
    return core.run_backtest(load(data_dir).panel, names, weeks, core.model_params(params))


@st.cache_resource(show_spinner="Fitting the model on all the data…")
def fitted(data_dir: str | None, name: str, params: str) -> Any:
    return core.fit_model(name, load(data_dir).panel, core.model_params(params))


@st.cache_resource(show_spinner="Loading the trained model…")
def stored(models_dir: str, version: str) -> Any:
    records = core.stored_models(Path(models_dir))
    record = next(r for r in records.values() if r.version == version)
    return core.load_stored_model(Path(models_dir), record)


def _map(shapes: pd.DataFrame, points: pd.DataFrame, selected: int) -> alt.LayerChart:
    """Arcs drawn from their geometry (Mercator, no tiles: works offline); click to pick."""
    pick = alt.selection_point(name="pick", fields=["arc_id"], on="click", empty=False)
    color = alt.condition(alt.datum.arc_id == selected, alt.value("#d62728"), alt.value("#1f77b4"))
    base = {"projection": {"type": "mercator"}}
    lines = (
        alt.Chart(shapes, **base)
        .mark_line(strokeWidth=5)
        .encode(
            longitude="lon:Q",
            latitude="lat:Q",
            detail="arc_id:N",
            order="order:Q",
            color=color,
        )
    )
    dots = (
        alt.Chart(points, **base)
        .mark_circle(size=220, opacity=0.9)
        .encode(
            longitude="lon:Q",
            latitude="lat:Q",
            color=color,
            tooltip=[alt.Tooltip("arc_id:N", title="arc"), alt.Tooltip("label:N", title="")],
        )
        .add_params(pick)
    )
    text = (
        alt.Chart(points, **base)
        .mark_text(dy=-16, fontSize=13, fontWeight="bold")
        .encode(longitude="lon:Q", latitude="lat:Q", text="arc_id:N")
    )
    ring = (
        alt.Chart(core.paris_outline(), **base)
        .mark_line(strokeWidth=1.5, strokeDash=[6, 4], color="#9e9e9e")
        .encode(longitude="lon:Q", latitude="lat:Q", order="order:Q",
                tooltip=[alt.Tooltip("name:N", title="")])
    )  # fmt: skip
    return alt.layer(ring, lines, dots, text).properties(height=420)


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

    names = _model_names()
    weeks = _weeks()
    models_dir = data_dir / "models" if data_dir else None
    records = core.stored_models(models_dir)

    with st.sidebar:
        st.header("Arc and model")
        arc_id = st.selectbox(
            "Arc", arc_ids, format_func=lambda a: labels[a], key="arc_id", help="or click the map"
        )
        model_name = st.selectbox(
            "Model for the next hour",
            list(names),
            index=list(names).index("gbm") if "gbm" in names else 0,
            key="model",
        )
        days = st.slider("Days of history shown", 1, 14, 3, key="days")
        st.caption(f"Data: {source.label}.")
        st.caption(core.SAMPLE_CREDIT)

    st.title("Paris road traffic, one hour ahead")
    first, last = panel["time"].min(), panel["time"].max()
    st.caption(
        f"{len(arc_ids)} arcs · {first:%Y-%m-%d} → {last:%Y-%m-%d %H:%M} UTC · {source.label}"
    )

    predictions = backtest(key, names, weeks, _params())

    left, right = st.columns([3, 2])
    with left:
        st.subheader("Arcs")
        st.caption("Click an arc to select it; dashed: the Boulevard périphérique (approximate).")
        shapes = core.arc_shapes(arcs, arc_ids)
        points = core.arc_points(shapes)
        if points.empty:
            st.info("The arcs table has no geometry: use the selector on the left.")
        else:
            points["label"] = points["arc_id"].map(labels)
            st.altair_chart(
                _map(shapes, points, arc_id),
                on_select="rerun",
                selection_mode="pick",
                key="map",
                **STRETCH,
            )
    with right:
        st.subheader(labels[arc_id])
        record = records.get(model_name)
        if record is not None and models_dir is not None:
            model = stored(str(models_dir), record.version)
            origin = f"trained model {record.version}"
        else:
            model = fitted(key, model_name, _params())
            origin = "fitted on all the data shown"
        target, value = core.next_hour(model, panel, arc_id)
        observed = panel.loc[(panel["arc_id"] == arc_id) & panel["flow"].notna()]
        last_row = observed.loc[observed["time"].idxmax()]
        local = target.tz_convert(core.PARIS)
        st.metric(
            f"Next-hour flow, {model_name} (hour ending {local:%Y-%m-%d %H:%M} Paris)",
            "n/a" if pd.isna(value) else f"{value:.0f} veh/h",
            delta=None if pd.isna(value) else f"{value - last_row['flow']:+.0f} vs last hour",
        )
        st.metric("Last observed flow", f"{last_row['flow']:.0f} veh/h")
        st.caption(f"Model {origin}; data up to {last_row['time']:%Y-%m-%d %H:%M} UTC.")
        st.markdown(f"**Backtest MAE on this arc** (veh/h, last {weeks} weeks)")
        st.dataframe(core.mae_by_model(predictions, arc_id), **STRETCH)

    st.subheader(f"Recent flow and one-hour-ahead forecasts — last {days} days")
    recent = core.recent_frame(panel, predictions, arc_id, days)
    forecast_point = pd.DataFrame(
        {
            "time": [target.tz_convert(core.PARIS)],
            "series": [f"next hour ({model_name})"],
            "flow": [value],
        }
    ).dropna()
    chart = (
        alt.Chart(recent)
        .mark_line()
        .encode(
            x=alt.X("time:T", title="hour (Paris)"),
            y=alt.Y("flow:Q", title="vehicles / hour"),
            color=alt.Color("series:N", title=""),
            strokeDash=alt.condition(
                alt.datum.series == "actual", alt.value([1, 0]), alt.value([4, 3])
            ),
        )
    )
    point = (
        alt.Chart(forecast_point)
        .mark_point(size=160, filled=True, color="black")
        .encode(x="time:T", y="flow:Q", tooltip=["series:N", "flow:Q"])
    )
    st.altair_chart((chart + point).properties(height=320), **STRETCH)

    st.header(f"Backtest: one hour ahead, last {weeks} weeks, weekly refit (all arcs)")
    st.markdown("**MAE by model** (vehicles/hour)")
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
