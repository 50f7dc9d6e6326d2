"""``infotrafic backtest``: compare forecasters on past data with a rolling origin."""

from __future__ import annotations

import datetime
import time
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

_WEEK = datetime.timedelta(days=7)


@click.command("backtest")
@data_source_options
@click.option(
    "--model",
    "models",
    multiple=True,
    required=True,
    help="Forecaster name (naive, seasonal_naive, historical_average, gbm, "
    "sklearn:<dotted.path>, darts:<Model>, mlforecast:<dotted.Regressor>, "
    "statsforecast:<Model>); "
    "repeat to compare.",
)
@click.option("--start", required=True, help="First target time (Paris time, e.g. 2023-06-01).")
@click.option("--end", required=True, help="End of the scoring window, excluded (Paris time).")
@click.option(
    "--horizon",
    "horizons",
    multiple=True,
    default=("1h",),
    show_default=True,
    help="Forecast horizon, 1h to 24h (repeatable: --horizon 1h --horizon 24h).",
)
@click.option(
    "--level",
    "levels",
    multiple=True,
    type=float,
    help="Prediction interval level in percent, in (0, 100) (repeatable: --level 80 "
    "--level 95); conformal intervals lo_<L>, hi_<L> for every model.",
)
@click.option(
    "--state/--no-state",
    default=None,
    help="Also forecast occupancy and score the traffic state against persistence "
    "(default: when the data has occupancy).",
)
@click.option(
    "--calibration",
    default=defaults.CALIBRATION,
    show_default=True,
    help="Window of past errors calibrating intervals and state probabilities.",
)
@click.option("--refit", default=defaults.REFIT, show_default=True, help="Refit cadence.")
@click.option("--delay", default="0h", show_default=True, help="Data publication delay.")
@click.option(
    "--window",
    type=click.Choice(["expanding", "sliding"]),
    default="expanding",
    show_default=True,
    help="Training window.",
)
@click.option("--train-size", default=None, help="Sliding window length, e.g. 365D.")
@click.option("--arc", "arcs", multiple=True, type=int, help="Only these arcs (repeatable).")
@n_jobs_option("Refit blocks run at once, one worker process each")
@dask_option("Run the backtest (cut by horizon, model and runs of refit blocks)")
@click.option(
    "--predictions",
    type=click.Path(dir_okay=False),
    help="Write the predictions (long frame) to this parquet file.",
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the JSON report.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write the HTML report.")
@click.option(
    "--param",
    "params",
    multiple=True,
    help="Model hyper-parameter MODEL.KEY=VALUE (repeatable), e.g. gbm.max_iter=300.",
)
@click.option("--per-arc", is_flag=True, help="Also print MAE per arc.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar.")
def backtest_command(
    files: tuple[str, ...],
    store: str | None,
    sample: bool,
    models: tuple[str, ...],
    start: str,
    end: str,
    horizons: tuple[str, ...],
    levels: tuple[float, ...],
    state: bool | None,
    calibration: str,
    refit: str,
    delay: str,
    window: str,
    train_size: str | None,
    arcs: tuple[int, ...],
    n_jobs: int,
    dask: str | None,
    predictions: str | None,
    json_path: str | None,
    html_path: str | None,
    params: tuple[str, ...],
    per_arc: bool,
    progress: bool,
) -> None:
    """Backtest forecasters (rolling origin) and print a model x metrics table.

    Every target hour in [--start, --end) with an observed flow is predicted at each --horizon
    using only data available at its origin (target - horizon - delay); models are refit every
    --refit. MAE is the primary metric (vehicles/hour); models are compared on the rows all of
    them predicted. --level adds conformal prediction intervals scored by coverage, width and
    Winkler score; the traffic state forecast from occupancy is scored against persistence.

    Example: infotrafic backtest --sample --model naive --model seasonal_naive --model gbm
    --start 2023-06-01 --end 2023-12-01 --horizon 1h --horizon 24h --level 80 --level 95

    With --dask ADDRESS the work runs on a Dask cluster (with --store, each worker reads its own
    data from the store); the predictions and the report are those of the local run.
    """
    from infotrafic.backtest import BacktestConfig, backtest
    from infotrafic.forecasters import make_forecaster

    if len(set(models)) != len(models):
        raise click.UsageError("each --model may be given once")
    hours = [check_horizon(h) for h in horizons]
    check_level_options(levels)
    t0 = time.perf_counter()
    source: Any
    if dask is not None and store is not None and not files and not sample:
        # the workers read the store themselves: only a week is read here, to detect occupancy
        from infotrafic.backtest import parse_time
        from infotrafic.etl import ParquetStore

        source = ParquetStore(store)
        last = parse_time(end, name="--end")
        panel = source.read(arcs=list(arcs) or None, start=last - _WEEK, end=last)
    else:
        panel = source = load_panel(files, store, sample, arcs)
    t_load = time.perf_counter() - t0
    if state is None:
        state = bool(panel["occupancy"].notna().any()) if "occupancy" in panel else False
    del panel
    config = BacktestConfig.create(
        start=start,
        end=end,
        horizon=hours,
        levels=levels,
        state=state,
        calibration=calibration,
        refit=refit,
        window=window,
        train_size=train_size,
        delay=delay,
        arcs=arcs or None,
        n_jobs=n_jobs,
        progress=progress,
    )
    per_model = parse_params(params, models)
    forecasters = {name: make_forecaster(name, **per_model[name]) for name in models}
    result = backtest(source, forecasters, config, scheduler=dask)
    t_total = time.perf_counter() - t0
    click.echo(result.report.to_text(per_arc=per_arc))
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    click.echo(f"\nTime: {t_total:.1f}s (data {t_load:.1f}s; {timing})")
    if predictions:
        click.echo(f"predictions -> {result.write_predictions(predictions)}")
        if result.states is not None:
            path = Path(predictions)
            states_path = path.with_name(f"{path.stem}.states{path.suffix or '.parquet'}")
            click.echo(f"states -> {result.write_states(states_path)}")
    if json_path:
        click.echo(f"JSON report -> {result.report.write_json(json_path)}")
    if html_path:
        click.echo(f"HTML report -> {result.report.write_html(html_path)}")


def register(group: click.Group) -> None:
    """Add the ``backtest`` command to ``group``.

    Parameters
    ----------
    group : click.Group
        The main ``infotrafic`` group.
    """
    group.add_command(backtest_command)
