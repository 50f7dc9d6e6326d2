"""Self-contained HTML rendering of a backtest report (hand-written inline SVG, no JS, no CDN)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from infotrafic.backtest._format import WEEKDAYS, format_number, paris_label

__all__ = ["line_chart_svg", "render_html"]

_COLORS = ("#222222", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


class BacktestReport(Protocol):
    """What the page shows of a :class:`~infotrafic.backtest.BacktestReport`.

    The report calls :func:`render_html`; this module does not import the report's module.
    """

    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def models(self) -> tuple[str, ...]: ...
    @property
    def n_targets(self) -> int: ...
    @property
    def n_common(self) -> int: ...
    @property
    def horizons(self) -> list[int]: ...
    @property
    def overall(self) -> pd.DataFrame: ...
    @property
    def comparison(self) -> pd.DataFrame: ...
    @property
    def per_arc(self) -> pd.DataFrame: ...
    @property
    def per_hour(self) -> pd.DataFrame: ...
    @property
    def per_weekday(self) -> pd.DataFrame: ...
    @property
    def per_horizon(self) -> pd.DataFrame: ...
    @property
    def sample(self) -> pd.DataFrame: ...
    @property
    def intervals(self) -> pd.DataFrame: ...
    @property
    def intervals_per_hour(self) -> pd.DataFrame: ...
    @property
    def state_scores(self) -> pd.DataFrame: ...
    @property
    def state_confusion(self) -> pd.DataFrame: ...


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#222;
max-width:1100px}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
th,td{padding:0.25em 0.7em;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f3f3f3}
.note{color:#555;font-size:0.9em}
svg{background:#fff;border:1px solid #eee}
"""


def _nice_max(v: float) -> float:
    if not math.isfinite(v) or v <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * mag:
            return float(m * mag)
    return float(10 * mag)


def line_chart_svg(
    x: Sequence[float] | np.ndarray,
    series: Mapping[str, Sequence[float] | np.ndarray],
    *,
    title: str,
    x_labels: dict[float, str] | None = None,
    y_label: str = "",
    width: int = 900,
    height: int = 300,
    colors: Mapping[str, str] | None = None,
) -> str:
    """Draw lines as an inline SVG string (gaps where values are NaN).

    Parameters
    ----------
    x : sequence of float
        Shared x values.
    series : dict of str to sequence of float
        Name -> y values (same length as ``x``); the first series is drawn in black.
    title : str
        Chart title.
    x_labels : dict of float to str, optional
        Tick positions and their labels.
    y_label : str
        Y-axis label.
    width, height : int
        Size in pixels.
    colors : mapping of str to str, optional
        Colour per series name (default: a palette, first series black).

    Returns
    -------
    str
        An ``<svg>`` element.

    Examples
    --------
    >>> svg = line_chart_svg([0, 1, 2], {"a": [1, 2, float("nan")]}, title="t")
    >>> svg.startswith("<svg") and "polyline" in svg
    True
    """
    left, right, top, bottom = 60, 150, 30, 40
    pw, ph = width - left - right, height - top - bottom
    xs = np.asarray(x, dtype="float64")
    arrays = [np.asarray(v, dtype="float64") for v in series.values()]
    all_y = np.concatenate(arrays) if arrays else np.zeros(1)
    finite = all_y[np.isfinite(all_y)]
    y_min = min(0.0, float(finite.min())) if finite.size else 0.0
    y_max = _nice_max(float(finite.max()) if finite.size else 1.0)
    x_min, x_max = (float(xs.min()), float(xs.max())) if xs.size else (0.0, 1.0)
    if x_max == x_min:
        x_max = x_min + 1.0

    def px(v: float) -> float:
        return left + (v - x_min) / (x_max - x_min) * pw

    def py(v: float) -> float:
        return top + ph - (v - y_min) / (y_max - y_min) * ph

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="#999"/>',
    ]
    for i in range(5):
        v = y_min + (y_max - y_min) * i / 4
        parts.append(
            f'<line x1="{left}" y1="{py(v):.1f}" x2="{left + pw}" y2="{py(v):.1f}" '
            'stroke="#eee"/>'
            f'<text x="{left - 6}" y="{py(v) + 4:.1f}" font-size="11" text-anchor="end">'
            f"{v:g}</text>"
        )
    for pos, label in (x_labels or {}).items():
        parts.append(
            f'<text x="{px(pos):.1f}" y="{top + ph + 16}" font-size="11" text-anchor="middle">'
            f"{html.escape(label)}</text>"
        )
    if y_label:
        parts.append(
            f'<text x="14" y="{top + ph / 2:.1f}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 14 {top + ph / 2:.1f})">{html.escape(y_label)}</text>'
        )
    for k, (name, values) in enumerate(series.items()):
        color = (colors or {}).get(name, _COLORS[k % len(_COLORS)])
        ys = np.asarray(values, dtype="float64")
        run: list[str] = []
        runs: list[list[str]] = []
        for xv, yv in zip(xs, ys, strict=True):
            if math.isfinite(yv):
                run.append(f"{px(xv):.1f},{py(yv):.1f}")
            elif run:
                runs.append(run)
                run = []
        if run:
            runs.append(run)
        width_attr = "2" if k == 0 else "1.4"
        for r in runs:
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="{width_attr}" '
                f'points="{" ".join(r)}"/>'
            )
        ly = top + 14 + 18 * k
        parts.append(
            f'<line x1="{left + pw + 12}" y1="{ly - 4}" x2="{left + pw + 32}" y2="{ly - 4}" '
            f'stroke="{color}" stroke-width="2"/>'
            f'<text x="{left + pw + 38}" y="{ly}" font-size="12">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table_html(df: pd.DataFrame, *, index_name: str) -> str:
    cols = [index_name, *[str(c) for c in df.columns]]
    out = ["<table><thead><tr>", *[f"<th>{html.escape(c)}</th>" for c in cols], "</tr></thead>"]
    out.append("<tbody>")
    for idx, row in df.iterrows():
        label = " / ".join(str(i) for i in idx) if isinstance(idx, tuple) else str(idx)
        out.append(f"<tr><td>{html.escape(label)}</td>")
        for col, v in row.items():
            out.append(f"<td>{html.escape(format_number(v, str(col), missing='–'))}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def render_html(report: BacktestReport, *, title: str) -> str:
    """Render a report as one self-contained HTML page.

    Parameters
    ----------
    report : BacktestReport
        The report.
    title : str
        Page title.

    Returns
    -------
    str
    """
    cfg = report.config
    start, end = paris_label(cfg.get("start")), paris_label(cfg.get("end"))
    palette = {"actual": _COLORS[0]}
    palette.update({m: _COLORS[1 + i % (len(_COLORS) - 1)] for i, m in enumerate(report.models)})
    body = [
        f"<h1>{html.escape(title)}</h1>",
        '<p class="note">'
        + html.escape(
            f"Targets: the hours ending in [{start}, {end}) "
            "Paris time; "
            f"horizon {', '.join(str(h) for h in cfg.get('horizons_hours') or report.horizons)} h, "
            f"refit every {cfg.get('refit')}, "
            f"{cfg.get('window')} window"
            + (f" of {cfg.get('train_size')}" if cfg.get("train_size") else "")
            + f", delay {cfg.get('delay_hours')} h. {report.n_common:,} arc-hours scored by every "
            f"model (of {report.n_targets:,} observed). Flows in vehicles/hour."
        )
        + "</p>",
        "<h2>Model comparison (common rows, sorted by MAE)</h2>",
        _table_html(report.comparison, index_name="model"),
        "<h2>Coverage and metrics on each model's own predictions</h2>",
        _table_html(report.overall, index_name="model"),
    ]
    sample = report.sample
    if not sample.empty:
        times = pd.DatetimeIndex(sample["time"]).tz_convert("Europe/Paris")
        x = np.arange(len(sample), dtype="float64")
        labels = {float(i): times[i].strftime("%a %d %b") for i in range(len(times)) if i % 24 == 0}
        series = {"actual": sample["y_true"].to_numpy()}
        for name in report.models:
            series[name] = sample[name].to_numpy()
        arc = sample.attrs.get("arc_id", "?")
        body += [
            "<h2>Actual vs predicted</h2>",
            line_chart_svg(
                x,
                series,
                title=f"Arc {arc}: last week of the window (Paris time)",
                x_labels=labels,
                y_label="vehicles/hour",
                colors=palette,
            ),
        ]
    if not report.per_hour.empty:
        hours = np.arange(24, dtype="float64")
        mae = report.per_hour["mae"].unstack("model")
        series = {
            str(m): mae[m].reindex(range(24)).to_numpy() for m in report.models if m in mae.columns
        }
        body += [
            "<h2>MAE by hour of day</h2>",
            line_chart_svg(
                hours,
                series,
                title="MAE by hour of day (Paris, start of the counting hour)",
                x_labels={float(h): f"{h}h" for h in range(0, 24, 3)},
                y_label="MAE",
                colors=palette,
            ),
            _table_html(mae.reindex(columns=list(report.models)), index_name="hour"),
        ]
    if not report.per_weekday.empty:
        wd = report.per_weekday["mae"].unstack("model").reindex(columns=list(report.models))
        wd.index = [WEEKDAYS[int(i)] for i in wd.index]
        body += ["<h2>MAE by weekday</h2>", _table_html(wd, index_name="weekday")]
    body += _horizon_section(report, palette)
    body += _interval_section(report, palette)
    body += _state_section(report)
    if not report.per_arc.empty:
        body += ["<h2>Per arc</h2>", _table_html(report.per_arc, index_name="model / arc")]
    body.append(
        '<p class="note">Data: Ville de Paris — comptages routiers permanents '
        "(opendata.paris.fr), ODbL. Generated by infotrafic.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def _horizon_section(report: BacktestReport, palette: Mapping[str, str]) -> list[str]:
    """MAE against horizon (chart and table) when the backtest has several horizons."""
    if len(report.horizons) < 2:
        return []
    mae = report.per_horizon["mae"].unstack("model")
    horizons = [float(h) for h in mae.index]
    series = {str(m): mae[m].to_numpy() for m in report.models if m in mae.columns}
    return [
        "<h2>Error against horizon</h2>",
        line_chart_svg(
            horizons,
            series,
            title="MAE by horizon (common rows at each horizon)",
            x_labels={h: f"{h:g} h" for h in horizons},
            y_label="MAE",
            colors=palette,
        ),
        _table_html(report.per_horizon, index_name="model / horizon"),
    ]


def _interval_section(report: BacktestReport, palette: Mapping[str, str]) -> list[str]:
    """Coverage, width and Winkler score of the intervals, and coverage by hour of day."""
    if report.intervals.empty:
        return []
    out = [
        "<h2>Prediction intervals</h2>",
        '<p class="note">Conformal intervals calibrated on each model\'s past errors known at '
        "the forecast origin. Coverage: share of observations inside; width: mean upper minus "
        "lower bound; Winkler: width plus 2/(1 - level) times the miss distance (lower is "
        "better).</p>",
        _table_html(report.intervals, index_name="model / level / horizon"),
    ]
    by_hour = report.intervals_per_hour["coverage"]
    for level in sorted({float(v) for v in by_hour.index.get_level_values("level")}):
        for horizon in sorted({int(v) for v in by_hour.index.get_level_values("horizon")}):
            part = by_hour.xs((level, horizon), level=("level", "horizon")).unstack("model")
            series = {
                str(m): part[m].reindex(range(24)).to_numpy()
                for m in report.models
                if m in part.columns
            }
            series[f"nominal {level:g} %"] = np.full(24, level / 100)
            out.append(
                line_chart_svg(
                    np.arange(24, dtype="float64"),
                    series,
                    title=f"Coverage of the {level:g} % intervals by hour of day, horizon "
                    f"{horizon} h",
                    x_labels={float(h): f"{h}h" for h in range(0, 24, 3)},
                    y_label="coverage",
                    colors={**palette, f"nominal {level:g} %": "#999999"},
                )
            )
    return out


def _state_section(report: BacktestReport) -> list[str]:
    """Traffic-state scores and confusion counts."""
    if report.state_scores.empty:
        return []
    matrix = report.state_confusion.copy()
    matrix.columns = [f"forecast {c}" for c in matrix.columns]
    return [
        "<h2>Traffic state</h2>",
        '<p class="note">States from the occupancy (1 Fluide &lt; 15 %, 2 Pré-saturé &lt; 30 %, '
        "3 Saturé &lt; 50 %, 4 Bloqué); each model's most probable state under its calibrated "
        "occupancy forecast, against persistence of the state observed at the origin.</p>",
        _table_html(report.state_scores, index_name="model / horizon"),
        "<h3>Confusion counts (rows: observed state)</h3>",
        _table_html(matrix, index_name="model / horizon / observed"),
    ]
