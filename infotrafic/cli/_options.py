"""Options and helpers shared by the commands: data sources, horizons, levels, parameters."""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from infotrafic._parallel import check_n_jobs
from infotrafic.exceptions import ConfigurationError

if TYPE_CHECKING:  # pandas is imported by the commands only when they run, never for --help
    import pandas as pd

__all__ = [
    "dask_option",
    "n_jobs_option",
    "MAX_HORIZON",
    "check_horizon",
    "check_level_options",
    "data_source_options",
    "load_panel",
    "parse_params",
]

F = TypeVar("F", bound=Callable[..., Any])


def data_source_options(command: F) -> F:
    """Add the data source of a command: ``FILE...``, ``--store DIR`` or ``--sample``.

    ``FILE...`` may name folders too: their data files are read, as ``infotrafic etl`` does
    (:func:`~infotrafic.etl.expand_paths`).

    Parameters
    ----------
    command : callable
        The click command function.

    Returns
    -------
    callable
    """
    command = click.option(
        "--sample", is_flag=True, help="Use the bundled real sample (3 Paris arcs, 2022-2023)."
    )(command)
    command = click.option(
        "--store", type=click.Path(exists=True, file_okay=False), help="Read a local store."
    )(command)
    return click.argument("files", nargs=-1, type=click.Path(exists=True))(command)


#: Horizons the forecasting commands accept, in hours.
MAX_HORIZON = 24


def _check_n_jobs(ctx: click.Context, param: click.Parameter, value: int | None) -> int:
    """Read ``--n-jobs``: absent means all the available cores (-1, joblib's convention)."""
    if value is None:
        return -1
    try:
        return check_n_jobs(value)
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc)) from exc


def n_jobs_option(what: str) -> Callable[[F], F]:
    """Return the ``--n-jobs`` option (default: all the available cores) saying what runs at once.

    Parameters
    ----------
    what : str
        The help text's first sentence: what runs in parallel and how.

    Returns
    -------
    callable
        A click decorator.
    """
    return click.option(
        "--n-jobs",
        type=int,
        default=None,
        show_default="all cores",
        callback=_check_n_jobs,
        help=f"{what}: a positive number, or -1 for all the available cores; 1 runs serially, "
        "with the least memory. The results do not depend on it.",
    )


def dask_option(what: str) -> Callable[[F], F]:
    """Return the ``--dask ADDRESS`` option: run the work on a Dask cluster instead of here.

    The value is handed to :func:`infotrafic._dask.dask_client` unchanged (``tcp://HOST:PORT``,
    a scheduler file, ``local:N``); absent, the command runs in this process (``--n-jobs``).

    Parameters
    ----------
    what : str
        The help text's first sentence: what runs on the cluster.

    Returns
    -------
    callable
        A click decorator.
    """
    return click.option(
        "--dask",
        "dask",
        metavar="ADDRESS",
        default=None,
        help=f"{what} on a Dask cluster: a scheduler address (tcp://HOST:PORT), a scheduler "
        "file, or local:N to start N worker processes here. Needs the dask extra "
        "(pip install 'infotrafic[dask]'). The results do not depend on it.",
    )


def check_horizon(value: str) -> int:
    """Read a ``--horizon`` option: a whole number of hours from 1 to 24 (``"6h"`` or ``6``).

    Parameters
    ----------
    value : str
        The option as typed.

    Returns
    -------
    int

    Raises
    ------
    click.UsageError
        When the value is not a whole number of hours in 1-24.

    Examples
    --------
    >>> check_horizon("6h"), check_horizon("24")
    (6, 24)
    """
    from infotrafic.backtest import parse_hours

    try:
        hours = parse_hours(int(value) if value.strip().isdigit() else value, name="--horizon")
    except ConfigurationError as exc:
        raise click.UsageError(str(exc)) from exc
    if not 1 <= hours <= MAX_HORIZON:
        raise click.UsageError(
            f"--horizon {value}: horizons go from 1h to {MAX_HORIZON}h (got {hours} h)"
        )
    return hours


def check_level_options(levels: Sequence[float]) -> tuple[float, ...]:
    """Validate ``--level`` options (percent, strictly between 0 and 100).

    Parameters
    ----------
    levels : sequence of float
        The options as read.

    Returns
    -------
    tuple of float
        Sorted, unique levels.

    Raises
    ------
    click.UsageError
        When a level is outside (0, 100).
    """
    from infotrafic.intervals import check_levels

    try:
        return check_levels(levels)
    except ConfigurationError as exc:
        raise click.UsageError(f"--level: {exc}") from exc


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


def load_panel(
    files: Sequence[str],
    store: str | None,
    sample: bool,
    arcs: Sequence[int] = (),
    start: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Read the panel of a command's data source: FILE..., ``--store DIR`` or ``--sample``.

    Parameters
    ----------
    files : sequence of str
        Data files (any format the ETL reads) or folders of them.
    store : str, optional
        A local parquet store.
    sample : bool
        The bundled real sample.
    arcs : sequence of int, default ()
        Only these arcs (store reads only).
    start : str or pandas.Timestamp, optional
        Only rows from this time (store reads only).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    click.UsageError
        When not exactly one source is given.
    """
    chosen = sum([bool(files), store is not None, sample])
    if chosen != 1:
        raise click.UsageError("give exactly one data source: FILE..., --store DIR or --sample")
    if sample:
        from infotrafic.datasets import load_sample

        return load_sample()
    if store is not None:
        from infotrafic.etl import ParquetStore

        panel: pd.DataFrame = ParquetStore(store).read(arcs=list(arcs) or None, start=start)
        return panel
    from infotrafic.etl import expand_paths, read_files

    result = read_files(expand_paths([Path(f) for f in files], empty_ok=False))
    n_bad = len(result.quarantine)
    if n_bad:
        click.echo(f"{n_bad:,} input rows quarantined (see `infotrafic` ETL commands)", err=True)
    return result.panel
