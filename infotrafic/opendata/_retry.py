"""Retries in one place: classify every failure once, wait, retry or raise from the error tree."""

from __future__ import annotations

import datetime as _dt
import email.utils
import json
import logging
import math
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

from infotrafic.exceptions import (
    OpenDataError,
    QueryError,
    QuotaExceededError,
    ServerError,
    TransportError,
)
from infotrafic.opendata._config import RetryPolicy

__all__ = ["BrokenBodyError", "check_response", "run_with_retries"]

logger = logging.getLogger("infotrafic.opendata")

T = TypeVar("T")


class BrokenBodyError(Exception):
    """A body arrived cut short or does not parse; the request is worth retrying."""


class _Quota(Exception):
    """A 429 answer with what it says about the reset."""

    def __init__(self, message: str, wait: float | None, reset_time: str | None, limit: int | None):
        super().__init__(message)
        self.wait = wait
        self.reset_time = reset_time
        self.call_limit = limit


class _ServerTrouble(Exception):
    """A 5xx answer."""


def _json_body(response: httpx.Response) -> dict[str, object]:
    try:
        body = json.loads(response.read() or b"null")
    except (ValueError, httpx.HTTPError):
        return {}
    return body if isinstance(body, dict) else {}


def _seconds_until(value: str, now: float) -> float | None:
    """Seconds from ``now`` to an ISO or HTTP date, or an epoch, or a number of seconds."""
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        # X-RateLimit-Reset is an epoch on some gateways and a delay on others.
        return number - now if number > 1e9 else number
    try:
        moment = _dt.datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    return moment.timestamp() - now


def _quota_wait(response: httpx.Response, body: dict[str, object]) -> float | None:
    """Return the wait a 429 announces: Retry-After, else reset_time, else X-RateLimit-Reset."""
    now = time.time()
    hints = [response.headers.get("Retry-After"), body.get("reset_time")]
    hints.append(response.headers.get("X-RateLimit-Reset"))
    for hint in hints:
        if isinstance(hint, str):
            wait = _seconds_until(hint, now)
            if wait is not None and math.isfinite(wait):
                return max(0.0, wait)
    return None


def check_response(response: httpx.Response, what: str) -> None:
    """Raise the right error for a non-2xx answer (reads the body of error answers only).

    Parameters
    ----------
    response : httpx.Response
        An answer whose headers have arrived (possibly still streaming).
    what : str
        What was asked, for messages.

    Raises
    ------
    QueryError
        On 400, with the portal's ``message`` and ``error_code``.
    OpenDataError
        On other 4xx answers.
    """
    status = response.status_code
    if status < 400:
        return
    body = _json_body(response)
    if status == 429:
        limit = body.get("call_limit")
        raise _Quota(
            str(body.get("error") or "Too many requests"),
            _quota_wait(response, body),
            str(body["reset_time"]) if isinstance(body.get("reset_time"), str) else None,
            int(limit) if isinstance(limit, int | float | str) and str(limit).isdigit() else None,
        )
    if status >= 500:
        raise _ServerTrouble(f"the portal answered HTTP {status}")
    message = body.get("message") or body.get("error") or response.reason_phrase
    code = body.get("error_code") or body.get("errorcode")
    if status == 400:
        raise QueryError(
            f"{what}: the portal rejected the query (HTTP 400 {code}): {message}",
            server_message=str(message) if message is not None else None,
            error_code=str(code) if code is not None else None,
        )
    raise OpenDataError(f"{what}: HTTP {status} {response.reason_phrase}: {message}")


_RETRYABLE_HTTPX = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.DecodingError,
)


def run_with_retries(
    operation: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``operation`` (one full request, body consumed) under ``policy``.

    Parameters
    ----------
    operation : callable
        Sends the request, checks it with :func:`check_response`, consumes and verifies the body
        (raising :class:`BrokenBodyError` when it is cut or broken) and returns the result.
    policy : RetryPolicy
        Retry budget, backoff and quota wait bound.
    what : str
        Description of the request, for messages and logs.
    sleep : callable, default time.sleep
        Waits; injectable for tests.

    Returns
    -------
    object
        What ``operation`` returned on its first successful attempt.

    Raises
    ------
    QuotaExceededError
        429 with a reset beyond ``policy.max_quota_wait`` (or too many 429s).
    ServerError
        5xx answers beyond the retry budget.
    TransportError
        Connection errors, timeouts, cut or broken bodies beyond the retry budget.
    QueryError
        The portal rejected the query (never retried).

    Examples
    --------
    >>> calls = []
    >>> def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise BrokenBodyError("cut")
    ...     return "ok"
    >>> run_with_retries(flaky, RetryPolicy(backoff_base=0.0), what="demo")
    'ok'
    >>> len(calls)
    3
    """
    retries = 0
    quota_waits = 0
    while True:
        try:
            return operation()
        except _Quota as exc:
            wait = exc.wait if exc.wait is not None else policy.backoff(quota_waits)
            if wait > policy.max_quota_wait or quota_waits >= max(policy.max_retries, 1):
                raise QuotaExceededError(
                    f"{what}: quota exhausted ({exc}); resets at {exc.reset_time or 'unknown'}"
                    f" (in {wait:.0f} s, more than the allowed wait of "
                    f"{policy.max_quota_wait:.0f} s). Retry later or use an API key.",
                    reset_time=exc.reset_time,
                    call_limit=exc.call_limit,
                ) from None
            logger.warning("%s: quota reached, waiting %.2f s for the reset", what, wait)
            quota_waits += 1
            sleep(wait)
            continue
        except _ServerTrouble as exc:
            final: OpenDataError = ServerError(f"{what}: {exc} (after {retries} retries)")
            cause: BaseException = exc
        except BrokenBodyError as exc:
            final = TransportError(f"{what}: broken body after {retries} retries: {exc}")
            cause = exc
        except _RETRYABLE_HTTPX as exc:
            final = TransportError(f"{what}: {type(exc).__name__}: {exc} (after {retries} retries)")
            cause = exc
        except httpx.HTTPError as exc:
            raise TransportError(f"{what}: {type(exc).__name__}: {exc}") from exc
        if retries >= policy.max_retries:
            raise final from cause
        delay = policy.backoff(retries)
        logger.warning("%s: %s; retry %d in %.2f s", what, cause, retries + 1, delay)
        retries += 1
        sleep(delay)
