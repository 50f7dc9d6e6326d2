"""Named defaults of the client: endpoints, timeouts, limits and the retry policy.

The defaults a user may also set through :class:`~infotrafic.config.Settings` (read timeout,
retries, longest quota wait) are defined once in :mod:`infotrafic.config` and read here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from infotrafic._version import __version__
from infotrafic.config import DEFAULT_MAX_QUOTA_WAIT, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from infotrafic.exceptions import ConfigurationError

__all__ = [
    "API_PATH",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_DATASET",
    "DEFAULT_TIMEOUT",
    "HISTORY_DATASET",
    "RECORDS_MAX_LIMIT",
    "RECORDS_WINDOW",
    "USER_AGENT",
    "RetryPolicy",
    "make_timeout",
]

#: Path of the Explore API v2.1 under the portal root.
API_PATH = "/api/explore/v2.1"
#: The live hourly dataset (rolling window of about 13 months).
DEFAULT_DATASET = "comptages-routiers-permanents"
#: The historical dataset: no records, yearly ZIP attachments.
HISTORY_DATASET = "comptages-routiers-permanents-historique"
#: Largest ``limit`` accepted by ``/records``.
RECORDS_MAX_LIMIT = 100
#: ``offset + limit`` must stay below this on ``/records``.
RECORDS_WINDOW = 10_000
#: Seconds to establish a connection.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Sent with every request so that the portal's operators know who calls.
USER_AGENT = (
    f"infotrafic/{__version__} (+https://github.com/infotrafic/infotrafic; "
    f"python-httpx/{httpx.__version__})"
)


def make_timeout(timeout: float | httpx.Timeout | None) -> httpx.Timeout:
    """Build the :class:`httpx.Timeout` used by the client.

    Parameters
    ----------
    timeout : float or httpx.Timeout or None
        Seconds for read/write/pool (connect uses :data:`DEFAULT_CONNECT_TIMEOUT` or less), or a
        ready :class:`httpx.Timeout`; ``None`` means :data:`DEFAULT_TIMEOUT`.

    Returns
    -------
    httpx.Timeout
        Explicit timeouts for every phase of a request.

    Examples
    --------
    >>> make_timeout(5.0).connect
    5.0
    """
    if isinstance(timeout, httpx.Timeout):
        return timeout
    seconds = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    if seconds <= 0:
        raise ConfigurationError(f"timeout must be positive seconds, got {timeout!r}")
    return httpx.Timeout(seconds, connect=min(seconds, DEFAULT_CONNECT_TIMEOUT))


@dataclass(frozen=True)
class RetryPolicy:
    """How the client retries: the one place where retries are decided.

    Parameters
    ----------
    max_retries : int, default 5
        Retries after the first attempt on 5xx answers, connection errors and cut or broken
        bodies. Quota waits (429) are counted separately, up to the same number. The default is
        :data:`infotrafic.config.DEFAULT_MAX_RETRIES`.
    backoff_base : float, default 0.5
        First backoff in seconds; doubles at each retry.
    backoff_cap : float, default 30.0
        Longest backoff in seconds.
    jitter : float, default 0.5
        Random extra share of each backoff (``0.5`` draws up to +50 %), to spread clients.
    max_quota_wait : float, default 300.0
        Longest wait in seconds for a quota reset announced by a 429; beyond it the client raises
        :class:`~infotrafic.exceptions.QuotaExceededError` at once. The default is
        :data:`infotrafic.config.DEFAULT_MAX_QUOTA_WAIT`.

    Examples
    --------
    >>> policy = RetryPolicy(backoff_base=1.0, backoff_cap=4.0, jitter=0.0)
    >>> [policy.backoff(n) for n in range(4)]
    [1.0, 2.0, 4.0, 4.0]
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    jitter: float = 0.5
    max_quota_wait: float = DEFAULT_MAX_QUOTA_WAIT

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigurationError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.backoff_base < 0 or self.backoff_cap < 0 or self.jitter < 0:
            raise ConfigurationError("backoff_base, backoff_cap and jitter must be >= 0")
        if self.max_quota_wait < 0:
            raise ConfigurationError(f"max_quota_wait must be >= 0, got {self.max_quota_wait}")

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based), jitter included.

        Parameters
        ----------
        attempt : int
            How many retries were already made.
        rng : random.Random, optional
            Source of the jitter (the module's generator by default).

        Returns
        -------
        float
            ``min(cap, base * 2**attempt) * (1 + U(0, jitter))``.
        """
        delay = min(self.backoff_cap, self.backoff_base * (2.0 ** min(attempt, 60)))
        if self.jitter:
            delay *= 1.0 + (rng or random).uniform(0.0, self.jitter)
        return delay
