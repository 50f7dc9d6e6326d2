"""The HTTP client of the portal's Explore API v2.1 (sync, httpx, injectable, retried).

:class:`OpenDataClient` is the user's entry point. It holds an
:class:`~infotrafic.opendata._http.HttpCore` (requests, retries, downloads) and a
:class:`~infotrafic.opendata._fetch.Fetcher` over the same core (bulk fetches and sync), and
delegates to them: composition, no inheritance, and neither part imports this module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal, Self, overload

import httpx
import pandas as pd

from infotrafic._types import PathLike, TimeLike
from infotrafic.config import DEFAULT_BASE_URL, Settings
from infotrafic.exceptions import ConfigurationError, OpenDataError
from infotrafic.opendata._config import (
    DEFAULT_DATASET,
    HISTORY_DATASET,
    RECORDS_MAX_LIMIT,
    RECORDS_WINDOW,
    RetryPolicy,
)
from infotrafic.opendata._fetch import Fetcher, FetchSummary, StoreLike
from infotrafic.opendata._http import HttpCore, parse_model
from infotrafic.opendata._models import (
    Attachment,
    DatasetInfo,
    RecordsPage,
    TrafficRecord,
    records_to_panel,
)
from infotrafic.opendata._query import arcs_list, odsql_where, to_utc
from infotrafic.opendata._verify import whole_zip

__all__ = ["OpenDataClient"]

logger = logging.getLogger("infotrafic.opendata")


def _where(
    arcs: int | str | Iterable[int | str] | None, start: TimeLike | None, end: TimeLike | None
) -> str | None:
    """Return the ODSQL filter of arcs and ``start <= t_1h < end`` (naive = Paris time)."""
    lo = None if start is None else to_utc(start)
    return odsql_where(arcs_list(arcs), lo, None if end is None else to_utc(end))


class OpenDataClient:
    """Talk to the Paris open-data portal (Opendatasoft Explore API v2.1).

    Parameters
    ----------
    base_url : str, default :data:`infotrafic.config.DEFAULT_BASE_URL`
        Portal root; the client appends ``/api/explore/v2.1/...``.
    api_key : str, optional
        Sent as ``Authorization: Apikey <key>`` (raises quotas; public data needs none).
    client : httpx.Client, optional
        A ready client to use (and not close); its base URL is ignored.
    transport : httpx.BaseTransport, optional
        Transport of the client built here (e.g. :class:`httpx.MockTransport` in tests).
    timeout : float or httpx.Timeout, optional
        Seconds per read (default :data:`~infotrafic.opendata.DEFAULT_TIMEOUT`).
    retry : RetryPolicy, optional
        Retry budget, backoff and the longest quota wait.
    dataset : str, default "comptages-routiers-permanents"
        The live dataset queried by :meth:`records`, :meth:`fetch` and :meth:`sync`.
    sleep : callable, default time.sleep
        How to wait between retries (injectable for tests).

    Examples
    --------
    >>> from infotrafic.testing import OpenDataServer
    >>> with OpenDataServer.demo() as server, OpenDataClient(server.url) as client:
    ...     panel = client.records(arcs=[4264], start="2023-01-02", end="2023-01-03")
    >>> len(panel), panel["arc_id"].unique().tolist()
    (24, [4264])
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
        self.http = HttpCore(
            base_url,
            api_key=api_key,
            client=client,
            transport=transport,
            timeout=timeout,
            retry=retry,
            dataset=dataset,
            sleep=sleep,
        )
        self._fetcher = Fetcher(self.http)

    @classmethod
    def from_settings(cls, settings: Settings, *, base_url: str | None = None) -> Self:
        """Build a client from the :class:`~infotrafic.config.Settings` (read once by the caller).

        Parameters
        ----------
        settings : Settings
            Base URL, API key, timeout, retry budget and longest quota wait.
        base_url : str, optional
            Overrides ``settings.base_url`` (e.g. from a command-line option).

        Returns
        -------
        OpenDataClient

        Examples
        --------
        >>> from infotrafic.config import Settings
        >>> with OpenDataClient.from_settings(Settings(max_retries=2)) as client:
        ...     client.base_url, client.retry.max_retries
        ('https://opendata.paris.fr', 2)
        """
        key = settings.api_key.get_secret_value() if settings.api_key is not None else None
        return cls(
            base_url or settings.base_url,
            api_key=key,
            timeout=settings.timeout,
            retry=RetryPolicy(
                max_retries=settings.max_retries, max_quota_wait=settings.max_quota_wait
            ),
        )

    # -- plumbing (the HTTP core's) -------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The portal root, without a trailing slash."""
        return self.http.base_url

    @property
    def dataset(self) -> str:
        """The live dataset queried by :meth:`records`, :meth:`fetch` and :meth:`sync`."""
        return self.http.dataset

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of every request."""
        return self.http.retry

    def close(self) -> None:
        """Close the HTTP client if it was built here."""
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, dataset={self.dataset!r})"

    def export_url(self, export_format: str = "csv", dataset: str | None = None) -> str:
        """Return the URL of ``/exports/{format}`` of a dataset.

        Parameters
        ----------
        export_format : str, default "csv"
            The export format.
        dataset : str, optional
            Dataset id (default: the client's).

        Returns
        -------
        str
        """
        return self.http.export_url(export_format, dataset)

    # -- queries ----------------------------------------------------------------------------
    def count(
        self,
        arcs: int | str | Iterable[int | str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
    ) -> int:
        """Count the records of arcs with ``start <= t_1h < end`` (one ``/records`` call).

        Parameters
        ----------
        arcs : int, str, iterable or None
            Arc ids; ``None`` for all.
        start, end : time, optional
            Bounds; naive times are Paris wall-clock time.

        Returns
        -------
        int
            The portal's ``total_count``.
        """
        return self.count_where(_where(arcs, start, end))

    def count_where(self, where: str | None, *, dataset: str | None = None) -> int:
        """Count the records matching an ODSQL ``where`` (``None``: all records).

        Parameters
        ----------
        where : str or None
            ODSQL filter.
        dataset : str, optional
            Another dataset than the client's.

        Returns
        -------
        int
            The portal's ``total_count``.
        """
        return self.http.count_where(where, dataset=dataset)

    @overload
    def records(
        self,
        arcs: int | str | Iterable[int | str] | None = ...,
        start: TimeLike | None = ...,
        end: TimeLike | None = ...,
        *,
        fields: Sequence[str] | None = ...,
        limit: int | None = ...,
        as_frame: Literal[True] = ...,
    ) -> pd.DataFrame: ...

    @overload
    def records(
        self,
        arcs: int | str | Iterable[int | str] | None = ...,
        start: TimeLike | None = ...,
        end: TimeLike | None = ...,
        *,
        fields: Sequence[str] | None = ...,
        limit: int | None = ...,
        as_frame: Literal[False],
    ) -> list[TrafficRecord]: ...

    def records(
        self,
        arcs: int | str | Iterable[int | str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        fields: Sequence[str] | None = None,
        limit: int | None = None,
        as_frame: bool = True,
    ) -> pd.DataFrame | list[TrafficRecord]:
        """Run a small query through ``/records`` (pages of 100, at most 10,000 rows).

        Parameters
        ----------
        arcs : int, str, iterable or None
            Arc ids; ``None`` for all.
        start, end : time, optional
            ``start <= t_1h < end``; naive times are Paris wall-clock time.
        fields : sequence of str, optional
            Fields to select (``iu_ac`` and ``t_1h`` are always added); default all.
        limit : int, optional
            Stop after this many records (default: all of them).
        as_frame : bool, default True
            Return a canonical panel; ``False`` returns the typed records.

        Returns
        -------
        pandas.DataFrame or list of TrafficRecord
            Ordered by ``t_1h``.

        Raises
        ------
        ConfigurationError
            The query matches more than the 10,000 rows ``/records`` can page through:
            use :meth:`fetch`, which goes through ``/exports``.
        """
        where = _where(arcs, start, end)
        select = None
        if fields is not None:
            select = ", ".join(dict.fromkeys(["iu_ac", "t_1h", *fields]))
        wanted = limit if limit is not None else RECORDS_WINDOW
        out: list[TrafficRecord] = []
        offset = 0
        while offset < wanted:
            size = min(RECORDS_MAX_LIMIT, wanted - offset, RECORDS_WINDOW - 1 - offset)
            if size <= 0:
                break
            params = {
                "select": select,
                "where": where,
                "order_by": "t_1h, iu_ac",
                "limit": size,
                "offset": offset,
                "timezone": "UTC",
            }
            body = self.http.get_json(self.http.dataset_url("records"), params, what="records")
            page = parse_model(RecordsPage, body, "records")
            if limit is None and offset == 0 and page.total_count >= RECORDS_WINDOW:
                raise ConfigurationError(
                    f"the query matches {page.total_count} records; /records pages through "
                    f"fewer than {RECORDS_WINDOW}: use OpenDataClient.fetch (sliced exports)"
                )
            out.extend(page.results)
            offset += len(page.results)
            logger.debug(
                "records: page of %d, %d of %d", len(page.results), offset, page.total_count
            )
            if not page.results or offset >= page.total_count:
                break
        return records_to_panel(out) if as_frame else out

    def time_bounds(
        self, arcs: int | str | Iterable[int | str] | None = None
    ) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """Return the oldest and newest ``t_1h`` the portal holds for arcs (two small calls).

        Parameters
        ----------
        arcs : int, str, iterable or None
            Arc ids; ``None`` for all.

        Returns
        -------
        tuple of pandas.Timestamp or None
            ``(oldest, newest)`` in UTC, or ``None`` when there is no record.
        """
        return self.http.time_bounds(arcs_list(arcs))

    def dataset_info(self, dataset: str | None = None) -> DatasetInfo:
        """Return the metadata of a dataset (fields, record count, modification date).

        Parameters
        ----------
        dataset : str, optional
            Dataset id (default: the client's).

        Returns
        -------
        DatasetInfo
            The typed metadata.
        """
        body = self.http.get_json(
            self.http.dataset_url(dataset=dataset), what=f"metadata of {dataset or self.dataset}"
        )
        return parse_model(DatasetInfo, body, "dataset metadata")

    # -- historical archive -----------------------------------------------------------------
    def list_archives(self, dataset: str = HISTORY_DATASET) -> list[Attachment]:
        """List the attachments of the historical dataset (yearly ZIPs), oldest year first.

        Parameters
        ----------
        dataset : str, default "comptages-routiers-permanents-historique"
            The dataset holding the archives.

        Returns
        -------
        list of Attachment
            Title, URL and year of each attachment.
        """
        body = self.http.get_json(
            self.http.dataset_url("attachments", dataset=dataset), what=f"attachments of {dataset}"
        )
        items = body.get("attachments", []) if isinstance(body, dict) else []
        found = [
            parse_model(Attachment, {**a.get("metas", {}), "href": a.get("href")}, "attachment")
            for a in items
        ]
        return sorted(found, key=lambda a: (a.year or 0, a.title))

    def download_archive(
        self,
        which: int | str,
        dest: PathLike,
        *,
        dataset: str = HISTORY_DATASET,
        progress: bool = False,
    ) -> Path:
        """Download one yearly archive, resuming a partial download (HTTP ``Range``).

        Parameters
        ----------
        which : int or str
            A year (``2022``) or an attachment title (``"opendata_txt_2022.zip"``).
        dest : path
            A directory (the attachment's title is used as file name) or a file path.
        dataset : str, default "comptages-routiers-permanents-historique"
            The dataset holding the archives.
        progress : bool, default False
            Show a byte progress bar on stderr (archives weigh hundreds of megabytes).

        Returns
        -------
        pathlib.Path
            The complete file; hand it to :func:`infotrafic.etl.read_file`.
        """
        archives = self.list_archives(dataset)
        match = [a for a in archives if which in (a.year, a.title, a.id)]
        if not match:
            known = ", ".join(a.title for a in archives) or "none"
            raise OpenDataError(f"no archive {which!r} in {dataset}; available: {known}")
        item = match[0]
        target = Path(dest)
        if target.is_dir() or not target.suffix:
            target = target / item.title
        if target.exists():
            logger.info("archive %s: already downloaded (%s)", item.title, target)
            return target
        return self.download_archive_item(item, target, dataset=dataset, progress=progress)

    def download_archive_item(
        self,
        item: Attachment,
        target: Path,
        *,
        dataset: str = HISTORY_DATASET,
        progress: bool = False,
    ) -> Path:
        """Download an :class:`Attachment` to ``target`` with resume (see :meth:`download_archive`).

        Parameters
        ----------
        item : Attachment
            From :meth:`list_archives`.
        target : pathlib.Path
            The file to write.
        dataset : str, default "comptages-routiers-permanents-historique"
            The dataset holding it.
        progress : bool, default False
            Show a byte progress bar on stderr.

        Returns
        -------
        pathlib.Path
            ``target``.
        """
        url = next(
            (u for u in (item.href, item.url) if u and u.startswith(("http://", "https://"))),
            self.http.dataset_url("attachments", item.id or item.title, dataset=dataset),
        )
        check = whole_zip if target.suffix.lower() == ".zip" else None
        self.http.download(
            url, target, what=f"archive {item.title}", verify=check, resume=True, progress=progress
        )
        return target

    # -- bulk -------------------------------------------------------------------------------
    @overload
    def fetch(
        self,
        arcs: int | str | Iterable[int | str] | None,
        start: TimeLike,
        end: TimeLike,
        *,
        store: None = ...,
        out_dir: PathLike | None = ...,
        fields: Sequence[str] | None = ...,
        slice_freq: str = ...,
        export_format: str = ...,
        progress: bool = ...,
    ) -> pd.DataFrame: ...

    @overload
    def fetch(
        self,
        arcs: int | str | Iterable[int | str] | None,
        start: TimeLike,
        end: TimeLike,
        *,
        store: StoreLike,
        out_dir: PathLike | None = ...,
        fields: Sequence[str] | None = ...,
        slice_freq: str = ...,
        export_format: str = ...,
        progress: bool = ...,
    ) -> FetchSummary: ...

    def fetch(
        self,
        arcs: int | str | Iterable[int | str] | None,
        start: TimeLike,
        end: TimeLike,
        *,
        store: StoreLike | None = None,
        out_dir: PathLike | None = None,
        fields: Sequence[str] | None = None,
        slice_freq: str = "MS",
        export_format: str = "csv",
        progress: bool = False,
    ) -> pd.DataFrame | FetchSummary:
        """Fetch arcs over ``[start, end)`` through ``/exports``, slice by slice, resumable.

        Each slice (a month by default) streams to a temporary file, is checked (bytes announced,
        strict parse, row count against the portal's count or, when the portal cannot count,
        every arc reaching the slice's last hour), renamed atomically, parsed and, with a
        ``store``, ingested at once; a slice that fails is retried alone. Verified slices are
        recorded in ``out_dir/manifest.json`` so that a killed run resumes where it stopped.

        Parameters
        ----------
        arcs : int, str, iterable or None
            Arc ids (``None``: every arc — large!).
        start, end : time
            ``start <= t_1h < end``; naive times are Paris wall-clock time.
        store : ParquetStore, optional
            Where to ingest each slice; then a :class:`FetchSummary` is returned. Without it the
            panel is returned (fine for modest queries).
        out_dir : path, optional
            Where slice files and the manifest live (default: ``store.raw_dir / "opendata"``,
            or a temporary directory without a store).
        fields : sequence of str, optional
            Fields to export (default ``iu_ac, t_1h, q, k, etat_trafic, etat_barre``).
        slice_freq : str, default "MS"
            Pandas frequency of the slice boundaries (Paris local time), e.g. ``"7D"``. One slice
            is held in memory while it is parsed: for every arc (about 2 M rows a month) prefer
            ``"D"`` or ``"7D"``.
        export_format : {"csv", "jsonl", "json", "parquet"}, default "csv"
            Export format asked for.
        progress : bool, default False
            Show a progress bar by slice.

        Returns
        -------
        pandas.DataFrame or FetchSummary
            The canonical panel without a store; the summary with one.

        Raises
        ------
        IncompleteFetchError
            At the end of the run, when slices could not be proven complete: their well-formed
            rows were kept (in the store, or in the error's ``result``) but they are not
            recorded as done, so the next run downloads them again.
        """
        return self._fetcher.fetch(
            arcs_list(arcs),
            to_utc(start),
            to_utc(end),
            store=store,
            out_dir=out_dir,
            fields=fields,
            slice_freq=slice_freq,
            export_format=export_format,
            progress=progress,
        )

    def sync(
        self,
        store: StoreLike,
        arcs: int | str | Iterable[int | str] | None = None,
        *,
        out_dir: PathLike | None = None,
        slice_freq: str = "MS",
        progress: bool = False,
    ) -> FetchSummary:
        """Bring a store up to date: fetch, per arc, only hours after its newest stored one.

        Arcs without stored data are fetched from the oldest record the portal holds. Re-running
        adds nothing; a run killed half-way and re-run ends with the same store as one run.

        Parameters
        ----------
        store : ParquetStore
            The store to complete (its ``latest_time`` and ``ingest`` are used).
        arcs : int, str, iterable or None
            Arcs to sync (default: every arc already in the store).
        out_dir : path, optional
            Where slice files and the manifest live (default ``store.raw_dir / "opendata"``).
        slice_freq : str, default "MS"
            Slice length.
        progress : bool, default False
            Show a progress bar by slice.

        Returns
        -------
        FetchSummary
            What was downloaded and ingested.

        Raises
        ------
        IncompleteFetchError
            When slices could not be proven complete (see :meth:`fetch`); slices left so by
            earlier runs in the same folder are downloaded again first.
        """
        return self._fetcher.sync(
            store,
            arcs_list(arcs),
            out_dir=out_dir,
            slice_freq=slice_freq,
            progress=progress,
        )
