"""The machine's resources: how many jobs run at once, and the address-space limit.

The ``n_jobs`` rule is shared by the library and the command line. Light on purpose (no numpy
or pandas): the command line checks ``--n-jobs`` before it imports anything heavy.
"""

from __future__ import annotations

import numbers
import os

from infotrafic.exceptions import ConfigurationError

__all__ = ["available_cores", "check_n_jobs"]


def available_cores() -> int:
    """Return the number of cores this process may run on (what ``n_jobs=-1`` means).

    The CPU affinity of the process where the platform has it (a container or ``taskset`` may
    grant fewer cores than the machine has), else :func:`os.cpu_count`; at least 1.

    Returns
    -------
    int

    Examples
    --------
    >>> available_cores() >= 1
    True
    """
    affinity = getattr(os, "sched_getaffinity", None)
    n = len(affinity(0)) if callable(affinity) else os.cpu_count()
    return max(1, n or 1)


def address_space_limit() -> int | None:
    """Return the process' address-space limit in bytes (``ulimit -v``), or None when unlimited.

    Examples
    --------
    >>> limit = address_space_limit()
    >>> limit is None or limit > 0
    True
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def check_n_jobs(n_jobs: object) -> int:
    """Return ``n_jobs`` if it is a positive number of jobs or -1 (all the available cores).

    Parameters
    ----------
    n_jobs : int
        The value given.

    Returns
    -------
    int

    Raises
    ------
    ConfigurationError
        For a non-integer (booleans included), 0 or a value below -1.

    Examples
    --------
    >>> check_n_jobs(-1), check_n_jobs(2)
    (-1, 2)
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral):
        raise ConfigurationError(f"n_jobs must be an integer, got {n_jobs!r}")
    if n_jobs == 0 or n_jobs < -1:
        raise ConfigurationError(
            f"n_jobs must be a positive number or -1 (all cores), got {n_jobs}"
        )
    return int(n_jobs)
