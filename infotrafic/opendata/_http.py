"""The HTTP core of the portal client: one httpx client, headers, URLs, retried JSON and files.

:class:`HttpCore` is held (not inherited) by :class:`~infotrafic.opendata.OpenDataClient` and by
the bulk :class:`~infotrafic.opendata._fetch.Fetcher`, which share one core per client. Besides
plumbing it answers the two ``/records`` questions both need: how many records match a filter,
and the oldest and newest hour of arcs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx
import pandas as pd
from pydantic import BaseModel, ValidationError

from infotrafic._io import publish
from infotrafic.config import DEFAULT_BASE_URL
from infotrafic.exceptions import ConfigurationError, OpenDataError
from infotrafic.opendata._config import (
    API_PATH,
    DEFAULT_DATASET,
    USER_AGENT,
    RetryPolicy,
    make_timeout,
)
from infotrafic.opendata._models import RecordsPage
from infotrafic.opendata._query import odsql_where, to_utc
from infotrafic.opendata._retry import BrokenBodyError, check_response, run_with_retries

__all__ = ["HttpCore", "parse_model"]

logger = logging.getLogger("infotrafic.opendata")


class HttpCore:
    """Send requests to the portal with retries (held by ``OpenDataClient`` and its fetcher).

    See :class:`~infotrafic.opendata.OpenDataClient` for the parameters.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float | httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        dataset: str = DEFAULT_DATASET,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"base_url must be an http(s) URL, got {base_url!r}")
        if client is not None and transport is not None:
            raise ConfigurationError("pass either client or transport, not both")
        self.base_url = base_url.rstrip("/")
        self.dataset = dataset
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._owns_client = client is None
        self._http = client or httpx.Client(
            transport=transport, timeout=make_timeout(timeout), follow_redirects=True
        )
        self._headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
        if api_key:
            self._headers["Authorization"] = f"Apikey {api_key}"

    # -- plumbing -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP client if it was built here."""
        if self._owns_client:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, dataset={self.dataset!r})"

    def url(self, *parts: str) -> str:
        """Return the API URL of a path under ``/api/explore/v2.1``.

        Parameters
        ----------
        *parts : str
            Path segments, e.g. ``"catalog", "datasets", "x"``.

        Returns
        -------
        str
            The absolute URL.

        Examples
        --------
        >>> HttpCore("https://example.org/").url("catalog", "datasets")
        'https://example.org/api/explore/v2.1/catalog/datasets'
        """
        return "/".join([self.base_url + API_PATH, *parts])

    def dataset_url(self, *parts: str, dataset: str | None = None) -> str:
        """Return the URL of a path under a dataset (default: the client's dataset).

        Parameters
        ----------
        *parts : str
            Path segments after ``catalog/datasets/{dataset}``.
        dataset : str, optional
            Another dataset id.

        Returns
        -------
        str
            The absolute URL.
        """
        return self.url("catalog", "datasets", dataset or self.dataset, *parts)

    def _retried(self, operation: Callable[[], Any], what: str) -> Any:
        return run_with_retries(operation, self.retry, what=what, sleep=self._sleep)

    def get_json(self, url: str, params: Mapping[str, Any] | None = None, *, what: str) -> Any:
        """GET a JSON document with retries; a cut or broken body is retried.

        Parameters
        ----------
        url : str
            Absolute URL.
        params : mapping, optional
            Query parameters (``None`` values are dropped).
        what : str
            Description for messages.

        Returns
        -------
        object
            The decoded JSON.
        """
        clean = {k: v for k, v in (params or {}).items() if v is not None}

        def operation() -> Any:
            with self._http.stream("GET", url, params=clean, headers=self._headers) as response:
                check_response(response, what)
                body = response.read()
                _check_length(response, len(body))
            try:
                return json.loads(body)
            except ValueError as exc:
                raise BrokenBodyError(f"invalid JSON ({exc})") from exc

        return self._retried(operation, what)

    def download(
        self,
        url: str,
        dest: Path,
        params: Mapping[str, Any] | None = None,
        *,
        what: str,
        verify: Callable[[Path], Any] | None = None,
        resume: bool = False,
        progress: bool = False,
    ) -> Any:
        """Stream a body to ``dest`` (via ``dest.part``), verify it, then rename it atomically.

        The ``.part`` file keeps a fixed name (a later run resumes it); once whole and verified it
        is published with :func:`infotrafic._io.publish`, like every atomic write.

        Parameters
        ----------
        url : str
            Absolute URL.
        dest : pathlib.Path
            Final path; it appears only once the whole body arrived and passed ``verify``.
        params : mapping, optional
            Query parameters.
        what : str
            Description for messages.
        verify : callable, optional
            Called with the complete temporary file; raises :class:`ValueError` when the content
            is broken (the download is then retried); its result is returned.
        resume : bool, default False
            Continue a partial ``dest.part`` with an HTTP ``Range`` request.
        progress : bool, default False
            Show a byte progress bar on stderr (its total from ``Content-Length`` when the
            server sends it; a resumed download starts at the bytes already on disk).

        Returns
        -------
        object
            What ``verify`` returned (``None`` without ``verify``).
        """
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        part = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        bar = _ByteBar(dest.name, enabled=progress)

        def operation() -> Any:
            headers = dict(self._headers)
            offset = part.stat().st_size if resume and part.exists() else 0
            if resume:
                headers["Accept-Encoding"] = "identity"  # byte ranges of the file itself
            if offset:
                headers["Range"] = f"bytes={offset}-"
            with self._http.stream("GET", url, params=clean, headers=headers) as response:
                check_response(response, what)
                if offset and response.status_code != 206:
                    offset = 0  # the server ignored the range: start again
                logger.debug(
                    "%s: HTTP %d, %s bytes%s",
                    what,
                    response.status_code,
                    response.headers.get("Content-Length", "unknown"),
                    f" from byte {offset}" if offset else "",
                )
                bar.start(response, offset)
                received = 0
                with part.open("ab" if offset else "wb") as fh:
                    # no chunk size: every byte received reaches the disk, even if the body
                    # is cut later (that is what a resumed download continues from)
                    for chunk in response.iter_bytes():
                        fh.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                _check_length(response, received)
                total = _range_total(response)
            if total is not None and part.stat().st_size != total:
                raise BrokenBodyError(f"{part.stat().st_size} bytes on disk, {total} announced")
            result = None
            if verify is not None:
                try:
                    result = verify(part)
                except (ValueError, UnicodeDecodeError) as exc:
                    part.unlink(missing_ok=True)
                    raise BrokenBodyError(str(exc)) from exc
            publish(part, dest)
            return result

        began = time.monotonic()
        try:
            result = self._retried(operation, what)
        finally:
            bar.close()
        logger.info(
            "%s: %d bytes -> %s in %.1f s",
            what,
            dest.stat().st_size,
            dest,
            time.monotonic() - began,
        )
        return result

    def export_url(self, export_format: str = "csv", dataset: str | None = None) -> str:
        """Return the URL of ``/exports/{format}`` (see ``OpenDataClient.export_url``)."""
        return self.dataset_url("exports", export_format, dataset=dataset)

    def count_where(self, where: str | None, *, dataset: str | None = None) -> int:
        """Return the portal's ``total_count`` of a filter (see ``OpenDataClient.count_where``)."""
        body = self.get_json(
            self.dataset_url("records", dataset=dataset),
            {"where": where, "limit": 1},
            what=f"count of {dataset or self.dataset}",
        )
        return parse_model(RecordsPage, body, "count").total_count

    def time_bounds(self, arcs: list[int] | None) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """Return ``(oldest, newest)`` ``t_1h`` of arcs (see ``OpenDataClient.time_bounds``)."""
        where = odsql_where(arcs, None, None)
        edges = []
        for order in ("t_1h asc", "t_1h desc"):
            params = {"select": "t_1h", "where": where, "order_by": order, "limit": 1}
            body = self.get_json(self.dataset_url("records"), params, what="time bounds")
            results = body.get("results") if isinstance(body, dict) else None
            if not results:
                return None
            edges.append(to_utc(str(results[0]["t_1h"])))
        return edges[0], edges[1]


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_model(cls: type[ModelT], body: Any, what: str) -> ModelT:
    """Validate an answer against its model; an unexpected shape is an :class:`OpenDataError`."""
    try:
        return cls.model_validate(body)
    except ValidationError as exc:
        raise OpenDataError(
            f"{what}: the portal's answer does not have the expected shape ({cls.__name__}): "
            f"{exc.errors()[0]['loc']} {exc.errors()[0]['msg']}"
        ) from exc


def _check_length(response: httpx.Response, decoded: int) -> None:
    """Raise :class:`BrokenBodyError` when fewer bytes arrived than ``Content-Length`` says.

    ``decoded`` is the body size after decoding; it is what counts unless the body was
    content-encoded (then the raw bytes on the wire are compared).
    """
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit():
        encoded = response.headers.get("Content-Encoding", "identity") != "identity"
        got = response.num_bytes_downloaded if encoded else decoded
        if got != int(declared):
            raise BrokenBodyError(f"received {got} bytes, Content-Length announced {declared}")


class _ByteBar:
    """A byte progress bar on stderr over the attempts of one download (tqdm, drawn lazily).

    Each attempt starts it again from the bytes already on disk; its total is the file's size,
    the first byte of the answer plus ``Content-Length`` (of an unencoded body), or unknown.
    """

    def __init__(self, name: str, *, enabled: bool) -> None:
        self.name = name
        self.enabled = enabled
        self._bar: Any = None

    def start(self, response: httpx.Response, offset: int) -> None:
        if not self.enabled:
            return
        declared = response.headers.get("Content-Length", "")
        encoded = response.headers.get("Content-Encoding", "identity") != "identity"
        total = offset + int(declared) if declared.isdigit() and not encoded else None
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                desc=self.name,
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
            )
        else:  # a retry: continue from what is on disk now
            self._bar.total = total
            self._bar.n = offset
            self._bar.refresh()

    def update(self, size: int) -> None:
        if self._bar is not None:
            self._bar.update(size)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _range_total(response: httpx.Response) -> int | None:
    """Total size announced by ``Content-Range: bytes a-b/total`` (206) or ``None``."""
    value = response.headers.get("Content-Range", "")
    total = value.rpartition("/")[2]
    return int(total) if response.status_code == 206 and total.isdigit() else None
