"""``infotrafic backtest``: compare forecasters on past data with a rolling origin."""

from __future__ import annotations

import ast
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import pandas as pd

from infotrafic.exceptions import ConfigurationError

__all__ = ["parse_params", "register"]


def _value(text: str) -> Any:
    """Read a parameter value: a Python/JSON literal (``3``, ``true``, ``[1, 2]``) or text."""
    lowered = {"true": True, "false": False, "null": None, "none": None}
    if text.lower() in lowered:
        return lowered[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_params(items: Sequence[str], models: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Parse ``--param model.key=value`` options into per-model keyword arguments.

    Parameters
    ----------
    items : sequence of str
        The raw options, e.g. ``["gbm.max_iter=300", "seasonal_naive.season=24"]``.
    models : sequence of str
        The model names given with ``--model`` (a parameter must name one of them).

    Returns
    -------
    dict
        ``{model: {key: value}}``; values are read as Python literals when possible.

    Raises
    ------
    ConfigurationError
        When an option is malformed or names an unknown model.

    Examples
    --------
    >>> parse_params(["gbm.max_iter=300", "gbm.loss=absolute_error"], ["gbm"])
    {'gbm': {'max_iter': 300, 'loss': 'absolute_error'}}
    >>> parse_params(["darts:NaiveSeasonal.K=24"], ["darts:NaiveSeasonal"])
    {'darts:NaiveSeasonal': {'K': 24}}
    """
    out: dict[str, dict[str, Any]] = {m: {} for m in models}
    for item in items:
        lhs, sep, rhs = item.partition("=")
        model, dot, key = lhs.rpartition(".")
        if not sep or not dot or not model or not key:
            raise ConfigurationError(
                f"--param {item!r}: expected MODEL.KEY=VALUE, e.g. gbm.max_iter=300"
            )
        if model not in out:
            raise ConfigurationError(
                f"--param {item!r}: model {model!r} is not one of the --model names {list(models)}"
            )
        out[model][key] = _value(rhs)
    return out


def _load_panel(
    files: Sequence[str], store: str | None, sample: bool, arcs: Sequence[int]
) -> pd.DataFrame:
    chosen = sum([bool(files), store is not None, sample])
    if chosen != 1:
        raise click.UsageError("give exactly one data source: FILE..., --store DIR or --sample")
    if sample:
        from infotrafic.datasets import load_sample

        return load_sample()
    if store is not None:
        from infotrafic.etl import ParquetStore

        panel: pd.DataFrame = ParquetStore(store).read(arcs=list(arcs) or None)
        return panel
    from infotrafic.etl import read_files

    result = read_files([Path(f) for f in files])
    n_bad = len(result.quarantine)
    if n_bad:
        click.echo(f"{n_bad:,} input rows quarantined (see `infotrafic` ETL commands)", err=True)
    return result.panel


@click.command("backtest")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--store", type=click.Path(exists=True, file_okay=False), help="Read a local store.")
@click.option("--sample", is_flag=True, help="Use the bundled sample (3 Paris arcs, 2022-2023).")
@click.option(
    "--model",
    "models",
    multiple=True,
    required=True,
    help="Forecaster name (naive, seasonal_naive, historical_average, gbm, darts:<Model>); "
    "repeat to compare.",
)
@click.option("--start", required=True, help="First target time (Paris time, e.g. 2023-06-01).")
@click.option("--end", required=True, help="End of the scoring window, excluded (Paris time).")
@click.option("--horizon", default="1h", show_default=True, help="Forecast horizon.")
@click.option("--refit", default="7D", show_default=True, help="Refit cadence.")
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
@click.option("--n-jobs", default=1, show_default=True, type=int, help="Parallel refit blocks.")
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
    horizon: str,
    refit: str,
    delay: str,
    window: str,
    train_size: str | None,
    arcs: tuple[int, ...],
    n_jobs: int,
    predictions: str | None,
    json_path: str | None,
    html_path: str | None,
    params: tuple[str, ...],
    per_arc: bool,
    progress: bool,
) -> None:
    """Backtest forecasters 1 h ahead (rolling origin) and print a model x metrics table.

    Every target hour in [--start, --end) with an observed flow is predicted using only data
    available at its origin (target - horizon - delay); models are refit every --refit. MAE is
    the primary metric (vehicles/hour); models are compared on the rows all of them predicted.

    Example: infotrafic backtest --sample --model naive --model seasonal_naive --model gbm
    --start 2023-06-01 --end 2023-12-01
    """
    from infotrafic.backtest import BacktestConfig, backtest
    from infotrafic.forecasters import make_forecaster

    if len(set(models)) != len(models):
        raise click.UsageError("each --model may be given once")
    config = BacktestConfig.create(
        start=start,
        end=end,
        horizon=horizon,
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
    t0 = time.perf_counter()
    panel = _load_panel(files, store, sample, arcs)
    t_load = time.perf_counter() - t0
    result = backtest(panel, forecasters, config)
    t_total = time.perf_counter() - t0
    click.echo(result.report.to_text(per_arc=per_arc))
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    click.echo(f"\nTime: {t_total:.1f}s (data {t_load:.1f}s; {timing})")
    if predictions:
        click.echo(f"predictions -> {result.write_predictions(predictions)}")
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
