"""Logging of the command line: ``-v/--verbose`` and ``--log-level`` on the ``infotrafic`` group.

The library logs under the ``infotrafic`` logger, one child per layer (``infotrafic.opendata``,
``infotrafic.etl``, ``infotrafic.forecasting``, ...), and adds only a
:class:`logging.NullHandler` to it. The command line gives that logger (and only it: the root
logger is left alone) one stderr handler for the duration of a command: warnings by default,
``-v`` adds the INFO lines, ``-vv`` or ``--log-level DEBUG`` the DEBUG ones.
"""

from __future__ import annotations

import logging
import sys

import click

__all__ = ["LEVELS", "LOGGER", "StderrHandler", "configure_logging", "resolve_level"]

#: The logger the command line configures: the root of every library logger.
LOGGER = "infotrafic"
#: Levels ``--log-level`` accepts, most verbose first.
LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR")
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_DATEFMT = "%H:%M:%S"


class StderrHandler(logging.Handler):
    """Write records to the stderr of the moment, above the progress bars.

    The stream is looked up at each record, not when the handler is built, so that the
    records follow a redirected ``sys.stderr`` (click's test runner, pytest's capture).
    :meth:`tqdm.tqdm.write` clears the bars shown, writes the line and draws them again.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never break the command it reports on
            self.handleError(record)


def resolve_level(verbose: int, log_level: str | None) -> int:
    """Return the level of the command-line options ``-v`` (repeatable) and ``--log-level``.

    Parameters
    ----------
    verbose : int
        How many times ``-v`` was given: 0 is WARNING, 1 INFO, 2 or more DEBUG.
    log_level : str, optional
        One of :data:`LEVELS` (any case); it cannot be combined with ``-v``.

    Returns
    -------
    int
        A :mod:`logging` level.

    Raises
    ------
    click.UsageError
        When both options are given.

    Examples
    --------
    >>> resolve_level(0, None), resolve_level(1, None), resolve_level(3, None)
    (30, 20, 10)
    >>> resolve_level(0, "error")
    40
    """
    if log_level is not None:
        if verbose:
            raise click.UsageError("give -v/--verbose or --log-level, not both")
        return logging.getLevelNamesMapping()[log_level.upper()]
    return (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]


def configure_logging(ctx: click.Context, level: int) -> StderrHandler:
    """Send the ``infotrafic`` records of ``level`` and above to stderr while ``ctx`` runs.

    The handler is removed and the logger's level restored when the context closes, so that
    running commands in one process (tests, notebooks) does not pile up handlers.

    Parameters
    ----------
    ctx : click.Context
        The context of the ``infotrafic`` group.
    level : int
        The :mod:`logging` level to show.

    Returns
    -------
    StderrHandler
        The installed handler.
    """
    logger = logging.getLogger(LOGGER)
    handler = StderrHandler(level)
    handler.setFormatter(logging.Formatter(_FORMAT, _DATEFMT))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous)

    ctx.call_on_close(restore)
    return handler
