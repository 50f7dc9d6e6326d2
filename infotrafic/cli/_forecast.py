"""``infotrafic train`` and ``infotrafic forecast``: forecasts as a product."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from infotrafic import _defaults as defaults
from infotrafic.cli._options import (
    check_horizon,
    check_level_options,
    dask_option,
    data_source_options,
    load_panel,
    n_jobs_option,
    parse_params,
)

__all__ = ["register"]

_FORMATS = (".parquet", ".csv", ".json")


def _echo_warnings(run: Callable[[], Any]) -> Any:
    """Run ``run`` and print the warnings it raised as ``warning: ...`` lines on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        out = run()
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)
    return out


def _model_params(items: Sequence[str], model: str) -> dict[str, Any]:
    """``--param KEY=VALUE`` (or ``MODEL.KEY=VALUE``) options of the one model trained."""
    qualified = [i if i.split("=", 1)[0].startswith(f"{model}.") else f"{model}.{i}" for i in items]
    return parse_params(qualified, [model])[model]


@click.command("train")
@data_source_options
@click.option(
    "--model",
    required=True,
    help="Forecaster name (naive, seasonal_naive, historical_average, gbm, "
    "sklearn:<dotted.path>, darts:<Model>, mlforecast:<dotted.Regressor>, "
    "statsforecast:<Model>).",
)
@click.option(
    "--horizon",
    "horizons",
    multiple=True,
    help="Horizon, 1h to 24h (repeatable; default: every hour from 1h to 24h).",
)
@click.option(
    "--level",
    "levels",
    multiple=True,
    type=float,
    help="Prediction interval level in percent (repeatable; default: 80 and 95).",
)
@click.option("--end", default=None, help="Train on the data before this time (Paris time).")
@click.option(
    "--param",
    "params",
    multiple=True,
    help="Hyper-parameter KEY=VALUE (repeatable), e.g. max_iter=300.",
)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Model dir.")
@click.option(
    "--validate-start",
    default=None,
    help="Also backtest over [this time, --end) and keep the metrics (Paris time).",
)
@click.option(
    "--refit",
    default=defaults.REFIT,
    show_default=True,
    help="Refit cadence of the validation backtest.",
)
@click.option("--delay", default="0h", show_default=True, help="Data publication delay.")
@click.option(
    "--calibration",
    default=defaults.CALIBRATION,
    show_default=True,
    help="Window of recent forecast errors calibrating intervals and state probabilities.",
)
@click.option(
    "--state/--no-state",
    default=None,
    help="Also forecast occupancy and the traffic state (default: when the data has occupancy).",
)
@click.option(
    "--refit-final/--no-refit-final",
    default=False,
    show_default=True,
    help="Serve models refitted on all the data, calibrated by the models fitted before the "
    "last --calibration window (twice the fits); by default those are served themselves.",
)
@click.option("--arc", "arcs", multiple=True, type=int, help="Only these arcs (repeatable).")
@n_jobs_option("Series and horizons fitted at once, one thread each")
@dask_option("Fit the series and horizons (and the validation backtest)")
@click.option(
    "--mlflow",
    "mlflow_uri",
    default=None,
    envvar="MLFLOW_TRACKING_URI",
    help="Log the run and register the model in this MLflow tracking store "
    "(default: MLFLOW_TRACKING_URI when set).",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars.")
def train_command(
    files: tuple[str, ...],
    store: str | None,
    sample: bool,
    model: str,
    horizons: tuple[str, ...],
    levels: tuple[float, ...],
    end: str | None,
    params: tuple[str, ...],
    out: str,
    validate_start: str | None,
    refit: str,
    delay: str,
    calibration: str,
    state: bool | None,
    refit_final: bool,
    arcs: tuple[int, ...],
    n_jobs: int,
    dask: str | None,
    mlflow_uri: str | None,
    progress: bool,
) -> None:
    """Train a model for horizons 1-24 h and write it to a versioned model directory.

    One forecaster per horizon (and per series: flow, and occupancy for the traffic state),
    conformal intervals calibrated on the errors of the last --calibration window, the feature
    specs, the training window, a fingerprint of the data and the library version. With
    --validate-start, a rolling-origin backtest over [--validate-start, --end) is stored with
    the model. The directory appears atomically.

    Example: infotrafic train --sample --model gbm --horizon 1h --horizon 24h --out models/gbm
    """
    from infotrafic.forecasting import train

    hours = [check_horizon(h) for h in horizons] or list(range(1, 25))
    chosen = check_level_options(levels) if levels else (80.0, 95.0)
    kwargs = _model_params(params, model)
    t0 = time.perf_counter()
    panel = load_panel(files, store, sample, arcs)
    if arcs:
        panel = panel.loc[panel["arc_id"].isin(arcs)]
    fitted = _echo_warnings(
        lambda: train(
            panel,
            model,
            horizons=hours,
            levels=chosen,
            end=end,
            params=kwargs,
            delay=delay,
            state=state,
            calibration=calibration,
            validate_start=validate_start,
            refit=refit,
            refit_final=refit_final,
            n_jobs=n_jobs,
            progress=progress,
            scheduler=dask,
        )
    )
    path = fitted.save(out)
    info = fitted.training
    click.echo(
        f"model {model}: horizons {', '.join(map(str, fitted.horizons))} h, series "
        f"{', '.join(fitted.targets)}, levels {', '.join(f'{x:g}' for x in fitted.levels)} %"
    )
    click.echo(
        f"trained on {info['rows']:,} rows of {info['arcs']} arcs, {info['start']} -> "
        f"{info['end']} (UTC, end excluded); data fingerprint {info['fingerprint'][:12]}"
    )
    if fitted.metrics:
        m = fitted.metrics
        per_h = ", ".join(f"{h} h {v:.2f}" for h, v in m["mae_per_horizon"].items())
        click.echo(f"validation MAE (mean over horizons) {m['mae']:.2f}: {per_h}")
    if mlflow_uri:
        from infotrafic.forecasting import log_model

        # The panel lets a champion validated on another window be re-evaluated on this one.
        registration = log_model(fitted, path, mlflow_uri, panel=panel)
        click.echo(f"MLflow: {registration}")
    click.echo(f"model -> {path} ({time.perf_counter() - t0:.1f}s)")


@click.command("forecast")
@click.argument("model_dir", type=click.Path(file_okay=False))
@data_source_options
@click.option(
    "--at",
    default=None,
    help="Issue time, Paris time (default: the last hour in the data).",
)
@click.option("--arc", "arcs", multiple=True, type=int, help="Only these arcs (repeatable).")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Output file: .parquet, .csv or .json.",
)
@click.option(
    "--stale-after",
    default=None,
    help="An arc whose last flow is older than this before the data cutoff is listed as stale, "
    "without numbers (default: the model's, 24h).",
)
@click.option("--rows", default=24, show_default=True, help="Rows shown on the terminal.")
def forecast_command(
    model_dir: str,
    files: tuple[str, ...],
    store: str | None,
    sample: bool,
    at: str | None,
    arcs: tuple[int, ...],
    out: str,
    stale_after: str | None,
    rows: int,
) -> None:
    """Forecast every arc at every horizon of a trained model.

    Writes one row per arc and horizon: arc_id, issued_at, time (end of the target hour, UTC),
    horizon, flow, lo_<L>/hi_<L>, occupancy, state, state_probability, stale. An arc whose data
    stopped too long before --at is listed with stale = true and no numbers; an unknown --arc
    gives a warning.

    Example: infotrafic forecast models/gbm --sample --arc 4264 --out forecast.csv
    """
    from infotrafic.forecasting import forecast, load_model

    suffix = Path(out).suffix.lower()
    if suffix not in _FORMATS:
        raise click.UsageError(f"--out {out}: use a .parquet, .csv or .json file")
    model = load_model(model_dir)
    start = None
    if store is not None and model.history_hours is not None:
        start = _history_start(store, arcs, at, model.delay, model.history_hours)
    panel = load_panel(files, store, sample, arcs, start=start)
    frame = _echo_warnings(
        lambda: forecast(model, panel, at=at, arcs=arcs or None, stale_after=stale_after)
    )
    path = _write(frame, Path(out))
    click.echo(_table(frame, rows))
    click.echo(f"{len(frame):,} rows -> {path}")


def _history_start(store: str, arcs: Sequence[int], at: str | None, delay: int, hours: int) -> Any:
    """First time to read from a store: the weeks the model's features read before ``--at``."""
    import pandas as pd

    from infotrafic.backtest import parse_time
    from infotrafic.etl import ParquetStore

    if at is not None:
        issued = parse_time(at, name="at")
    else:
        latest = ParquetStore(store).latest_time(list(arcs) or None)
        if not latest:
            return None
        issued = max(latest.values()) + pd.Timedelta(hours=delay)
    return issued - pd.Timedelta(hours=delay + hours)


def _write(frame: Any, path: Path) -> Path:
    from infotrafic._io import atomic_write

    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    if suffix == ".csv":
        iso = "%Y-%m-%dT%H:%M:%SZ"
        text = frame.assign(
            issued_at=frame["issued_at"].dt.strftime(iso), time=frame["time"].dt.strftime(iso)
        )
        return atomic_write(path, lambda tmp: text.to_csv(tmp, index=False))
    return atomic_write(
        path,
        lambda tmp: frame.to_json(tmp, orient="records", date_format="iso", indent=1),
    )


def _table(frame: Any, rows: int) -> str:
    """Return the first rows of a forecast as a readable table (Paris time)."""
    import pandas as pd

    from infotrafic.backtest import format_table

    if frame.empty:
        return "no forecast rows"
    show = frame.head(rows).copy()
    show["time"] = pd.DatetimeIndex(show["time"]).tz_convert("Europe/Paris").strftime("%d %b %Hh")
    issued = pd.Timestamp(frame["issued_at"].iloc[0]).tz_convert("Europe/Paris")
    show = show.drop(columns=["issued_at"]).set_index("arc_id")
    show["stale"] = show["stale"].map({True: "yes", False: ""})
    text = format_table(show, index_name="arc_id", digits=2)
    more = f"\n... {len(frame) - rows:,} more rows" if len(frame) > rows else ""
    return f"Forecast issued at {issued:%Y-%m-%d %H:%M} Paris time\n{text}{more}"


def register(group: click.Group) -> None:
    """Add the ``train`` and ``forecast`` commands to ``group``.

    Parameters
    ----------
    group : click.Group
        The main ``infotrafic`` group.
    """
    group.add_command(train_command)
    group.add_command(forecast_command)
