"""CLI commands of the ETL layer: ``infotrafic etl`` and ``infotrafic quality``."""

from __future__ import annotations

from pathlib import Path

import click

from infotrafic.cli._options import dask_option

__all__ = ["register"]


def _is_store(path: Path) -> bool:
    return path.is_dir() and (
        (path / "_manifest.json").exists() or any(path.glob("[0-9][0-9][0-9][0-9]/*.parquet"))
    )


@click.command("etl")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "-o",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Store directory to create or update (a parquet store readable by pandas.read_parquet).",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Show a progress bar over files (on stderr).",
)
@click.option(
    "--keep-raw/--no-keep-raw",
    default=True,
    show_default=True,
    help="Copy each ingested source file into the store's _raw/ area.",
)
@click.option(
    "--arcs",
    "arc_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An arc referentiel file to merge into the store's arcs table (repeatable); the "
    "metadata carried by the data files takes precedence.",
)
@dask_option("Read the files in parallel (the workers must see the files and --out)")
def etl_command(
    paths: tuple[Path, ...],
    out: Path,
    progress: bool,
    keep_raw: bool,
    arc_files: tuple[Path, ...],
    dask: str | None,
) -> None:
    """Read FILE... (any mix of formats; directories are walked) into the store --out DIR.

    Files already ingested (same content hash) are skipped; overlapping files are merged with the
    library's dedupe policy. Prints what changed in the store. A file that loads nothing
    (unreadable, truncated, no usable row) is named on stderr and not recorded as ingested; the
    other files are ingested and the command then exits with status 1.

    Large files (a yearly archive ZIP of the whole network) are streamed with bounded memory; a
    damaged ZIP member is quarantined and the rest loads. The store changes all at once at the
    end: an interrupted run leaves it as it was. With --dask the files are read on a Dask
    cluster and merged here in the given order: the store gets the same bytes as without.
    """
    from infotrafic.etl import ParquetStore
    from infotrafic.exceptions import IngestError

    store = ParquetStore(out)
    for arc_file in arc_files:  # first, so that the metadata of the data files wins
        store.ingest_arcs(arc_file)
    try:
        summary = store.ingest_files(paths, progress=progress, keep_raw=keep_raw, scheduler=dask)
    except IngestError as exc:
        summary, failed = exc.result, exc.errors
    else:
        failed = ()
    click.echo(f"store: {store.path}")
    click.echo(summary.to_text())
    if arc_files:
        click.echo(f"{'arcs in table':<18} {len(store.arcs()):>10}")
    for line in failed:
        click.echo(f"error: {line}", err=True)
    if failed:
        loaded = summary.files_ingested + summary.files_skipped
        click.echo(
            f"error: {len(failed)} file(s) loaded nothing; "
            + (f"{loaded} other(s) are in the store" if loaded else "nothing was loaded"),
            err=True,
        )
        click.get_current_context().exit(1)


@click.command("quality")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a text table.")
@click.option(
    "--progress/--no-progress",
    default=False,
    show_default=True,
    help="Show a progress bar over files (on stderr).",
)
def quality_command(paths: tuple[Path, ...], as_json: bool, progress: bool) -> None:
    """Print per-arc data quality of PATH... (files, directories of files, or one store).

    Per arc: first/last hour, hours expected and present, hours with flow, missing-flow share,
    zero flows, occupancy-only hours, gaps in the flow (count, longest), rows on DST change days,
    and duplicates, conflicts and quarantined rows found while reading.
    """
    from infotrafic.etl import quality_of_files, quality_of_store

    stores = [p for p in paths if _is_store(p)]
    if stores and len(paths) > 1:
        raise click.UsageError("give either one store directory or files/directories of files")
    report = quality_of_store(stores[0]) if stores else quality_of_files(paths, progress=progress)
    click.echo(report.to_json() if as_json else report.to_text())


def register(group: click.Group) -> None:
    """Add the ``etl`` and ``quality`` commands to ``group``."""
    group.add_command(etl_command)
    group.add_command(quality_command)
