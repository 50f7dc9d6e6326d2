"""The ``infotrafic`` command line: a thin layer over the library.

Each command parses its options, calls the library, and turns an
:class:`~infotrafic.exceptions.InfotraficError` into a one-line message and exit status 1.
Commands live in small modules (``_etl``, ``_opendata``, ``_backtest``, ``_forecast``) that
register themselves on :data:`main`. The group's ``-v/--verbose`` and ``--log-level`` options
send the library's log records to stderr (see :mod:`infotrafic.cli._logging`).
"""

from __future__ import annotations

from typing import Any

import click

from infotrafic._version import __version__
from infotrafic.cli._logging import LEVELS, configure_logging, resolve_level
from infotrafic.exceptions import InfotraficError

__all__ = ["main"]


class _Group(click.Group):
    """A click group that reports library errors in one line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InfotraficError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except MemoryError as exc:  # a limit (ulimit -v, a container) met: say so in one line
            click.echo(f"error: {_out_of_memory(exc)}", err=True)
            ctx.exit(1)


def _out_of_memory(exc: MemoryError) -> str:
    """Describe a ``MemoryError``: what failed, the address-space limit if any, what to try."""
    from infotrafic._parallel import address_space_limit

    soft = address_space_limit()
    limit = (
        ""
        if soft is None
        else f" under an address-space limit of {soft / 2**30:.2f} GiB (ulimit -v)"
    )
    detail = f" ({exc})" if str(exc) else ""
    return (
        f"out of memory{limit}{detail}; nothing was written (writes are atomic). Raise the "
        "limit, or ask for less at once (fewer files, arcs or --n-jobs)"
    )


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="infotrafic")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Log more on stderr: -v the INFO lines, -vv the DEBUG ones (default: warnings only).",
)
@click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    default=None,
    metavar="[" + "|".join(LEVELS) + "]",
    help="Log records of this level and above on stderr (instead of -v).",
)
@click.pass_context
def main(ctx: click.Context, verbose: int, log_level: str | None) -> None:
    """Forecast Paris road traffic 1 to 24 hours ahead from the City of Paris open data."""
    configure_logging(ctx, resolve_level(verbose, log_level))


def _register() -> None:
    from infotrafic.cli import _backtest, _etl, _forecast, _opendata, _stream

    for module in (_etl, _opendata, _backtest, _forecast, _stream):
        module.register(main)


_register()
