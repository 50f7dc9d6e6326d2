"""Fault injection for the loopback server: what goes wrong, how often, on which paths."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from typing import Literal

__all__ = ["Fault", "FaultQueue"]

FaultKind = Literal["quota", "error", "slow", "drop", "truncate", "corrupt", "unavailable"]
TruncateMode = Literal["length", "chunked", "clean", "close"]


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour, applied to the next ``times`` matching requests.

    Build them with the class methods (:meth:`quota`, :meth:`server_error`, :meth:`slow`,
    :meth:`drop`, :meth:`truncate`, :meth:`corrupt`, :meth:`unavailable`) and push them on
    :attr:`OpenDataServer.faults <infotrafic.testing.OpenDataServer.faults>`.

    Parameters
    ----------
    kind : str
        What happens.
    times : int
        How many matching requests it hits.
    path : str, optional
        A regular expression searched in the request path; ``None`` matches every request.
    status : int
        HTTP status of ``error`` and ``unavailable`` faults.
    delay : float
        Seconds of a ``slow`` fault.
    fraction : float
        Share of the body sent by ``truncate`` faults.
    mode : str
        ``truncate`` mode: ``"length"`` (full ``Content-Length`` announced, part sent, connection
        closed), ``"chunked"`` (chunks cut without the final chunk), ``"clean"`` (a shorter
        body with a matching ``Content-Length``: only a row count reveals it) or ``"close"``
        (no ``Content-Length`` nor chunks: the body ends when the connection closes, cut at a
        line boundary, so nothing on the wire reveals it).
    reset_in : float
        Seconds until the quota "resets" (``quota`` faults, ``reset_time`` in the body).
    retry_after : int, optional
        ``Retry-After`` header of ``quota`` faults (omitted when ``None``).

    Examples
    --------
    >>> Fault.quota(times=2).kind, Fault.server_error(503).status
    ('quota', 503)
    """

    kind: FaultKind
    times: int = 1
    path: str | None = None
    status: int = 503
    delay: float = 0.0
    fraction: float = 0.5
    mode: TruncateMode = "length"
    reset_in: float = 0.05
    retry_after: int | None = None

    @classmethod
    def quota(
        cls,
        times: int = 1,
        *,
        reset_in: float = 0.05,
        retry_after: int | None = None,
        path: str | None = None,
    ) -> Fault:
        """Answer 429 with the portal's quota body, ``X-RateLimit-*`` and ``Retry-After``."""
        return cls("quota", times, path, reset_in=reset_in, retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 503, times: int = 1, *, path: str | None = None) -> Fault:
        """Answer a 5xx status."""
        return cls("error", times, path, status=status)

    @classmethod
    def slow(cls, delay: float, times: int = 1, *, path: str | None = None) -> Fault:
        """Wait ``delay`` seconds before answering normally."""
        return cls("slow", times, path, delay=delay)

    @classmethod
    def drop(cls, times: int = 1, *, path: str | None = None) -> Fault:
        """Close the connection without answering."""
        return cls("drop", times, path)

    @classmethod
    def truncate(
        cls,
        fraction: float = 0.5,
        times: int = 1,
        *,
        mode: TruncateMode = "length",
        path: str | None = None,
    ) -> Fault:
        """Send only ``fraction`` of the body (see ``mode``)."""
        return cls("truncate", times, path, fraction=fraction, mode=mode)

    @classmethod
    def corrupt(cls, times: int = 1, *, path: str | None = None) -> Fault:
        """Send a complete body whose middle is garbage (broken CSV/JSON/parquet)."""
        return cls("corrupt", times, path)

    @classmethod
    def unavailable(
        cls, times: int = 1, *, path: str | None = r"/records$", status: int = 404
    ) -> Fault:
        """Answer ``status`` (404) with the portal's error body, as for a dataset without records.

        By default it hits ``/records``, the endpoint that counts records: the count of a slice
        then cannot be obtained. Use a large ``times`` for an endpoint that never answers.
        """
        return cls("unavailable", times, path, status=status)

    def matches(self, path: str) -> bool:
        """Tell whether this fault applies to a request path."""
        return self.path is None or re.search(self.path, path) is not None


@dataclass
class FaultQueue:
    """Thread-safe queue of pending faults; the first matching one is consumed per request.

    Examples
    --------
    >>> q = FaultQueue()
    >>> q.push(Fault.drop(times=2, path="/exports/"))
    >>> q.take("/records") is None, q.take("/exports/csv").kind, len(q)
    (True, 'drop', 1)
    """

    _pending: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def push(self, *faults: Fault) -> None:
        """Queue faults (applied in order)."""
        with self._lock:
            self._pending.extend(faults)

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._pending.clear()

    def take(self, path: str) -> Fault | None:
        """Consume one use of the first fault matching ``path``."""
        with self._lock:
            for i, fault in enumerate(self._pending):
                if fault.matches(path):
                    if fault.times <= 1:
                        del self._pending[i]
                    else:
                        self._pending[i] = replace(fault, times=fault.times - 1)
                    return fault
        return None

    def __len__(self) -> int:
        with self._lock:
            return sum(f.times for f in self._pending)
