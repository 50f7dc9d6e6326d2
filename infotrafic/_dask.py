"""The one door to a Dask cluster: ``ADDRESS | "local:N" | Client`` -> a connected client.

Every command that can run on Dask (``backtest --dask``, ``train --dask``, ``etl --dask``) asks
:func:`dask_client` for its client, and runs its tasks through :func:`run_on_dask`. The
``dask[distributed]`` extra is imported only here and only when a cluster is asked for, so
``import infotrafic`` and the command line's ``--help`` stay light.

Targets
-------
``tcp://HOST:PORT`` (or ``HOST:PORT``, or any address a ``dask scheduler`` prints)
    Connect to a running scheduler; the client is closed on exit, the cluster is left running.
A path to a scheduler file (``dask scheduler --scheduler-file FILE``)
    Connect to the scheduler it names.
``local:N`` (or ``local``: one worker per available core)
    Start a ``LocalCluster`` of N worker processes on 127.0.0.1, one thread each, no dashboard;
    closed on exit.
a ``distributed.Client``
    Used as is and left open.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infotrafic._parallel import available_cores
from infotrafic.exceptions import ClusterError, ConfigurationError

if TYPE_CHECKING:  # distributed is an optional extra, imported only when a cluster is used
    from distributed import Client

__all__ = [
    "CONNECT_TIMEOUT",
    "WORKER_TIMEOUT",
    "DaskTarget",
    "dask_client",
    "describe_target",
    "import_distributed",
    "parse_local",
    "run_on_dask",
    "send_data",
]

#: Seconds to wait for the scheduler to answer.
CONNECT_TIMEOUT = 10.0
#: Seconds to wait for a first worker to join the scheduler before giving up.
WORKER_TIMEOUT = 60.0

#: What :func:`dask_client` accepts (a ``distributed.Client`` passes as ``Any`` here).
DaskTarget = Any

logger = logging.getLogger("infotrafic.dask")

_FIX = (
    "start one with `dask scheduler` and `dask worker ADDRESS` (see docs/dask.rst), "
    "or use --dask local:N for N worker processes on this machine"
)


def import_distributed() -> Any:
    """Import ``distributed``, naming the ``dask`` extra when it is missing.

    Returns
    -------
    module
        The ``distributed`` package.

    Raises
    ------
    ConfigurationError
        When ``dask[distributed]`` is not installed.
    """
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigurationError(
            "the Dask backend needs dask.distributed: pip install 'infotrafic[dask]'"
        ) from exc
    return distributed


def parse_local(target: str) -> int | None:
    """Return the number of workers of a ``local:N`` target, or None for a scheduler address.

    Parameters
    ----------
    target : str
        ``local``, ``local:N`` or a scheduler address.

    Returns
    -------
    int or None
        N (all the available cores for a bare ``local``); None when ``target`` is an address.

    Raises
    ------
    ConfigurationError
        When N is not a positive whole number.

    Examples
    --------
    >>> parse_local("local:2"), parse_local("tcp://127.0.0.1:8786")
    (2, None)
    """
    head, sep, tail = target.strip().partition(":")
    if head.lower() != "local":
        return None
    if not sep:
        return available_cores()
    if not tail.strip().isdigit() or int(tail) < 1:
        raise ConfigurationError(
            f"--dask {target!r}: local:N needs a positive number of worker processes, e.g. local:2"
        )
    return int(tail)


def describe_target(target: DaskTarget) -> str:
    """Return a short label of a target for messages and logs.

    Parameters
    ----------
    target : str or distributed.Client or None
        What was given to :func:`dask_client`.

    Returns
    -------
    str

    Examples
    --------
    >>> describe_target("local:2")
    'local:2'
    """
    if target is None or isinstance(target, str | Path):
        return str(target) if target is not None else f"local:{available_cores()}"
    address = getattr(getattr(target, "scheduler", None), "address", None)
    return str(address or type(target).__name__)


def _wait_for_workers(client: Client, label: str, timeout: float) -> None:
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (TimeoutError, OSError) as exc:
        raise ClusterError(
            f"the Dask scheduler at {label} has no worker after {timeout:g} s; "
            f"start one with `dask worker {label}`",
            address=label,
        ) from exc


def _connect(address: str, timeout: float) -> Client:
    distributed = import_distributed()
    path = Path(address)
    try:
        if address.endswith(".json") or path.is_file():
            if not path.is_file():
                raise ClusterError(
                    f"Dask scheduler file {address!r} does not exist; {_FIX}", address=address
                )
            client: Client = distributed.Client(
                scheduler_file=str(path), timeout=timeout, set_as_default=False
            )
        else:
            client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except ClusterError:
        raise
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address!r} ({type(exc).__name__}: {exc}); {_FIX}",
            address=address,
        ) from exc
    return client


@contextlib.contextmanager
def dask_client(
    target: DaskTarget,
    *,
    timeout: float = CONNECT_TIMEOUT,
    worker_timeout: float = WORKER_TIMEOUT,
) -> Iterator[Client]:
    """Yield a ``distributed.Client`` for a scheduler address, ``local:N`` or a client.

    Parameters
    ----------
    target : str, path, distributed.Client or None
        A scheduler address (``tcp://127.0.0.1:8786``), a scheduler file, ``local:N``
        (``LocalCluster`` of N processes, one thread each, no dashboard), ``local`` or None (one
        worker per available core), or a client (used as is and not closed).
    timeout : float, default :data:`CONNECT_TIMEOUT`
        Seconds to wait for the scheduler.
    worker_timeout : float, default :data:`WORKER_TIMEOUT`
        Seconds to wait for a first worker to join.

    Yields
    ------
    distributed.Client
        Closed on exit (with its ``LocalCluster``) unless it was given.

    Raises
    ------
    ClusterError
        When the scheduler cannot be reached or has no worker (names the address and the fix).
    ConfigurationError
        When ``dask[distributed]`` is missing (names the extra) or ``local:N`` is malformed.
    """
    if target is not None and not isinstance(target, str | Path):
        if not callable(getattr(target, "submit", None)):
            raise ConfigurationError(
                f"scheduler must be an address, 'local:N' or a distributed.Client, "
                f"got {type(target).__name__}"
            )
        yield target
        return
    text = "local" if target is None else str(target).strip()
    if not text:
        raise ConfigurationError("--dask needs a scheduler address or local:N, got ''")
    n_local = parse_local(text)
    with contextlib.ExitStack() as stack:
        if n_local is not None:
            distributed = import_distributed()
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=n_local,
                    processes=True,
                    threads_per_worker=1,
                    host="127.0.0.1",
                    dashboard_address=None,
                    # the scheduler's HTTP endpoints (health, metrics) on a free port, not 8787
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                    silence_logs=logging.ERROR,
                )
            )
            client = stack.enter_context(distributed.Client(cluster, set_as_default=False))
            label = f"local:{n_local}"
        else:
            client = stack.enter_context(_connect(text, timeout))
            label = text
            _wait_for_workers(client, label, worker_timeout)
        logger.info("running on the Dask cluster %s", label)
        yield client


def _same(value: Any) -> Any:
    """Return ``value`` (the task that holds data sent by :func:`send_data`)."""
    return value


def send_data(client: Any, value: Any) -> Any:
    """Send data to the cluster once, as a task that tasks can depend on; return its future.

    Unlike ``client.scatter``, the data is the result of a task, so Dask recomputes it (from
    the copy the scheduler keeps) when the worker holding it is lost: scattered data is lost
    for good once the memory manager has dropped its extra replicas. A worker fetches it once,
    however many tasks it runs.

    Parameters
    ----------
    client : distributed.Client
        From :func:`dask_client`.
    value : object
        The data (a panel, or a piece of one).

    Returns
    -------
    distributed.Future
    """
    import warnings

    with warnings.catch_warnings():
        # the data is meant to travel in the graph, once
        warnings.filterwarnings("ignore", message=".*[Ll]arge graph.*")
        return client.submit(_same, value, pure=False)


def run_on_dask(
    client: Any,
    calls: Iterable[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]],
    *,
    total: int | None = None,
    progress: bool = False,
    desc: str = "dask",
    retries: int = 0,
) -> Iterator[Any]:
    """Submit ``(function, args, kwargs)`` calls to a cluster; yield results as they complete.

    A worker lost mid-task has its tasks rescheduled by Dask on the others (up to the
    scheduler's ``allowed-failures``); the results do not depend on where or in which order
    tasks ran, since each is a pure function of its arguments. A task that raises is not
    retried by default: the error (a model's failure, bad data) would only come again.

    Parameters
    ----------
    client : distributed.Client
        From :func:`dask_client`.
    calls : iterable of (callable, tuple, dict)
        The tasks (``joblib.delayed`` calls have this shape).
    total : int, optional
        The number of calls, for the progress bar.
    progress : bool, default False
        Show a tqdm bar on stderr, advanced as tasks complete.
    desc : str, default "dask"
        The bar's label.
    retries : int, default 0
        Extra attempts of a task that raised.

    Yields
    ------
    object
        Each call's result, in completion order.
    """
    distributed = import_distributed()
    futures: list[Any] = [
        client.submit(fn, *args, pure=False, retries=retries, **kwargs)
        for fn, args, kwargs in calls
    ]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total or len(futures), desc=desc, unit="task", file=sys.stderr)
    try:
        for fut in distributed.as_completed(futures, loop=client.loop):
            out = fut.result()
            fut.release()
            if bar is not None:
                bar.update(1)
            yield out
    finally:
        if bar is not None:
            bar.close()
        for fut in futures:
            if not fut.done():
                fut.cancel()
