"""CLI commands of the opendata layer: ``fetch``, ``sync`` and ``archive list|get``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

__all__ = ["register"]

_BASE_URL_HELP = "Portal root URL (default: INFOTRAFIC_BASE_URL or https://opendata.paris.fr)."


def _client(base_url: str | None) -> Any:
    """Build the client from the settings (read once, here) and the command line."""
    from infotrafic.config import Settings
    from infotrafic.opendata import OpenDataClient

    return OpenDataClient.from_settings(Settings(), base_url=base_url)


def _store(out: Path) -> Any:
    from infotrafic.etl import ParquetStore

    return ParquetStore(out)


def _report(store: Any, verb: str, run: Callable[[], Any]) -> None:
    """Run a fetch or sync and print its summary, also when slices were left unverified."""
    from infotrafic.exceptions import IncompleteFetchError

    error: IncompleteFetchError | None = None
    try:
        summary = run()
    except IncompleteFetchError as exc:
        summary, error = exc.result, exc
    click.echo(f"store: {store.path}")
    click.echo(f"{verb}: {summary}")
    if error is not None:
        raise error  # the group prints the one-line error naming the slices


_base_url = click.option("--base-url", default=None, metavar="URL", help=_BASE_URL_HELP)
_out = click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Store directory to create or update (slices are kept under its raw area).",
)
_progress = click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Show a progress bar by slice (on stderr).",
)


@click.command("fetch")
@_base_url
@click.option(
    "--arc", "arcs", multiple=True, required=True, type=int, help="Arc id (iu_ac); repeat it."
)
@click.option(
    "--start",
    required=True,
    help="First hour (t_1h), inclusive; naive = Paris time (an ambiguous or non-existent "
    "daylight-saving hour is refused: give an offset).",
)
@click.option("--end", required=True, help="Last hour (t_1h), exclusive; naive = Paris time.")
@_out
@click.option(
    "--slice",
    "slice_freq",
    default="MS",
    show_default=True,
    help="Slice length as a pandas frequency (MS = months, 7D = weeks).",
)
@click.option(
    "--format",
    "export_format",
    type=click.Choice(["csv", "jsonl", "json", "parquet"]),
    default="csv",
    show_default=True,
    help="Export format asked from the portal.",
)
@_progress
def fetch_command(
    base_url: str | None,
    arcs: tuple[int, ...],
    start: str,
    end: str,
    out: Path,
    slice_freq: str,
    export_format: str,
    progress: bool,
) -> None:
    """Download arcs over [--start, --end) from the portal into the store --out DIR.

    The range is cut in slices (a month by default), each exported, streamed to disk, verified
    and ingested; an interrupted run started again resumes after the completed slices. A slice
    that cannot be proven complete (see the docs) keeps its rows but is not recorded as done:
    the command then exits with status 1 naming it, and the next run downloads it again.
    """
    from infotrafic._time import parse_user_time

    # The one rule for user times (naive = Paris; ambiguous or non-existent hours refused), read
    # here so that an error names the option.
    first = parse_user_time(start, name="--start", on_hour=False)
    last = parse_user_time(end, name="--end", on_hour=False)
    store = _store(out)
    with _client(base_url) as client:
        _report(
            store,
            "fetched",
            lambda: client.fetch(
                list(arcs),
                first,
                last,
                store=store,
                slice_freq=slice_freq,
                export_format=export_format,
                progress=progress,
            ),
        )


@click.command("sync")
@_base_url
@click.option(
    "--arc",
    "arcs",
    multiple=True,
    type=int,
    help="Arc id to keep up to date (repeatable; default: every arc in the store).",
)
@_out
@_progress
def sync_command(base_url: str | None, arcs: tuple[int, ...], out: Path, progress: bool) -> None:
    """Bring the store --out DIR up to date: fetch only hours after the newest stored per arc.

    Running it again adds nothing; a run interrupted half-way and started again ends with the
    same store as one uninterrupted run. Slices left unverified by earlier runs are downloaded
    again first.
    """
    store = _store(out)
    with _client(base_url) as client:
        _report(store, "synced", lambda: client.sync(store, list(arcs) or None, progress=progress))


@click.group("archive")
def archive_group() -> None:
    """Work with the historical archive: yearly ZIP files of every arc (2010 onwards)."""


@archive_group.command("list")
@_base_url
def archive_list(base_url: str | None) -> None:
    """List the yearly archives the portal offers (year and file name)."""
    with _client(base_url) as client:
        for item in client.list_archives():
            click.echo(f"{item.year or '----'}  {item.title}")


@archive_group.command("get")
@click.argument("year")
@_out
@_base_url
@click.option(
    "--ingest/--no-ingest",
    default=True,
    show_default=True,
    help="Read the ZIP into the store --out DIR; --no-ingest only downloads it into DIR.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a byte progress bar on stderr (default: when stderr is a terminal).",
)
def archive_get(
    year: str, out: Path, base_url: str | None, ingest: bool, progress: bool | None
) -> None:
    """Download the archive of YEAR (or a file name), resuming a partial download.

    With --ingest (default) the ZIP is kept in the store's raw area and read into the store.
    """
    if progress is None:
        progress = sys.stderr.isatty()
    which: int | str = int(year) if year.isdigit() else year
    if ingest:
        store = _store(out)
        dest = Path(store.raw_dir) / "archives"
    else:
        dest = out
    dest.mkdir(parents=True, exist_ok=True)
    with _client(base_url) as client:
        path = client.download_archive(which, dest, progress=progress)
    click.echo(f"downloaded: {path}")
    if ingest:
        from infotrafic.etl import read_file

        summary = store.ingest(read_file(path))
        click.echo(f"store: {store.path}")
        click.echo(summary.to_text())


def register(group: click.Group) -> None:
    """Add ``fetch``, ``sync`` and ``archive`` to ``group``."""
    group.add_command(fetch_command)
    group.add_command(sync_command)
    group.add_command(archive_group)
