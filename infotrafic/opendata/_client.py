"""The HTTP client of the portal's Explore API v2.1 (sync, httpx, injectable, retried)."""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

import pandas as pd

from infotrafic._types import PathLike, TimeLike
from infotrafic.exceptions import ConfigurationError, OpenDataError
from infotrafic.opendata._config import HISTORY_DATASET, RECORDS_MAX_LIMIT, RECORDS_WINDOW
from infotrafic.opendata._http import HttpCore, parse_model
from infotrafic.opendata._models import (
    Attachment,
    DatasetInfo,
    RecordsPage,
    TrafficRecord,
    records_to_panel,
)
from infotrafic.opendata._query import arcs_list, odsql_where, to_utc

if TYPE_CHECKING:
    from infotrafic.opendata._fetch import FetchSummary, StoreLike

__all__ = ["OpenDataClient"]

logger = logging.getLogger("infotrafic.opendata")


def _whole_zip(path: Path) -> None:
    """Raise :class:`ValueError` unless ``path`` holds a whole ZIP archive.

    A body cut short without a ``Content-Length`` (the server closed the connection) looks
    complete to HTTP; the ZIP's central directory, written last, is then missing.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            archive.infolist()
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path.name}: not a whole ZIP archive ({exc})") from exc


class OpenDataClient(HttpCore):
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
        where = odsql_where(
            arcs_list(arcs),
            None if start is None else to_utc(start),
            None if end is None else to_utc(end),
        )
        return self.count_where(where)

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
        body = self.get_json(
            self._dataset_url("records", dataset=dataset),
            {"where": where, "limit": 1},
            what=f"count of {dataset or self.dataset}",
        )
        return parse_model(RecordsPage, body, "count").total_count

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
        where = odsql_where(
            arcs_list(arcs),
            None if start is None else to_utc(start),
            None if end is None else to_utc(end),
        )
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
            body = self.get_json(self._dataset_url("records"), params, what="records")
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
        where = odsql_where(arcs_list(arcs), None, None)
        edges = []
        for order in ("t_1h asc", "t_1h desc"):
            params = {"select": "t_1h", "where": where, "order_by": order, "limit": 1}
            body = self.get_json(self._dataset_url("records"), params, what="time bounds")
            results = body.get("results") if isinstance(body, dict) else None
            if not results:
                return None
            edges.append(to_utc(str(results[0]["t_1h"])))
        return edges[0], edges[1]

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
        body = self.get_json(
            self._dataset_url(dataset=dataset), what=f"metadata of {dataset or self.dataset}"
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
        body = self.get_json(
            self._dataset_url("attachments", dataset=dataset), what=f"attachments of {dataset}"
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
            self._dataset_url("attachments", item.id or item.title, dataset=dataset),
        )
        check = _whole_zip if target.suffix.lower() == ".zip" else None
        self.download(
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
        from infotrafic.opendata._fetch import fetch_range

        return fetch_range(
            self,
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
        from infotrafic.opendata._fetch import sync_store

        return sync_store(
            self,
            store,
            arcs_list(arcs),
            out_dir=out_dir,
            slice_freq=slice_freq,
            progress=progress,
        )
