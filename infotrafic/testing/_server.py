"""A real HTTP server on 127.0.0.1 that speaks the portal's Explore API v2.1 for given data."""

from __future__ import annotations

import threading
import zoneinfo
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from infotrafic._schema import empty_panel
from infotrafic._types import PathLike
from infotrafic.testing._faults import FaultQueue
from infotrafic.testing._handler import (
    API_PREFIX,
    ApiError,
    Handler,
    HTTPServer,
    RequestLog,
    bad_request,
    odsql_error,
    param,
)
from infotrafic.testing._odsql import ODSQLSyntaxError, compile_where
from infotrafic.testing._render import FIELDS, LABELS, Served, build_table, canonical

__all__ = ["OpenDataServer", "RequestLog"]

LIVE_DATASET = "comptages-routiers-permanents"
HISTORY_DATASET = "comptages-routiers-permanents-historique"
_FILTER_TYPES = {k: ("text" if v == "date" else v) for k, v in FIELDS.items() if "geo" not in v}


class _Fields:
    """Column access over the record table, reaching into the arcs' attributes when needed."""

    def __init__(self, served: Served, table: pd.DataFrame) -> None:
        self.served = served
        self.table = table

    def __getitem__(self, name: str) -> pd.Series:
        if name in self.table.columns:
            column: pd.Series = self.table[name]
            return column
        if not len(self.served.attrs):
            return pd.Series(None, index=self.table.index, dtype=object)
        values = self.served.attrs[name].to_numpy()[self.table["_arc"].to_numpy()]
        return pd.Series(values, index=self.table.index)


class OpenDataServer:
    """A loopback server speaking the Paris portal's Explore API v2.1 over a given panel.

    Serves ``/catalog/datasets/{id}`` (metadata), ``/records`` (``limit`` <= 100,
    ``offset + limit`` < 10,000, real 400 bodies past it), ``/exports/{csv,json,jsonl,parquet}``
    (streamed, ``;`` CSV with BOM and raw field names), the ``where`` subset of ODSQL
    (comparisons, ``IN``, ``AND``/``OR``/``NOT``, ``date'...'``), ``select``, ``order_by``,
    ``refine``/``exclude``, ``timezone``, and the historical dataset's ``/attachments`` (ZIP
    files given here, with ``Range`` support). Faults are switched at run time through
    :attr:`faults`; every request lands in :attr:`requests`.

    Parameters
    ----------
    panel : pandas.DataFrame, optional
        Canonical panel to serve (empty by default).
    arcs : pandas.DataFrame, optional
        Arcs table giving names, nodes, validity dates and geometry of the records.
    archives : sequence of path, optional
        Files served as attachments of the historical dataset (titles = file names).
    dataset, history_dataset : str
        Dataset ids of the live data and of the archive.
    export_content_length : bool, default False
        Send exports with a ``Content-Length`` instead of chunked transfer encoding.
    host : str, default "127.0.0.1"
        Interface; keep the loopback one.
    port : int, default 0
        Port; 0 picks a free one.

    Examples
    --------
    >>> import httpx
    >>> with OpenDataServer.demo() as server:
    ...     body = httpx.get(server.url + "/api/explore/v2.1/catalog/datasets/"
    ...                      "comptages-routiers-permanents/records",
    ...                      params={"where": 'iu_ac = "4264"', "limit": 1}).json()
    >>> body["total_count"], body["results"][0]["iu_ac"], body["results"][0]["t_1h"]
    (744, '4264', '2022-12-31T23:00:00+00:00')
    """

    def __init__(
        self,
        panel: pd.DataFrame | None = None,
        arcs: pd.DataFrame | None = None,
        *,
        archives: Sequence[PathLike] = (),
        dataset: str = LIVE_DATASET,
        history_dataset: str = HISTORY_DATASET,
        export_content_length: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.panel = canonical(panel if panel is not None else empty_panel())
        self.arcs = arcs
        self.served = build_table(self.panel, arcs)
        self.table = self.served.table
        self.archives = {Path(p).name: Path(p) for p in archives}
        self.dataset = dataset
        self.history_dataset = history_dataset
        self.export_content_length = export_content_length
        self.faults = FaultQueue()
        self._host = host
        self._port = port
        self._log: list[RequestLog] = []
        self._lock = threading.Lock()
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.modified = pd.Timestamp.now(tz="UTC").floor("s")

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_files(cls, paths: Iterable[PathLike], **kwargs: Any) -> OpenDataServer:
        """Serve the data of files read by :func:`infotrafic.etl.read_files` (any regime).

        Parameters
        ----------
        paths : iterable of path
            Export, archive or API files.
        **kwargs
            Passed to :class:`OpenDataServer`.

        Returns
        -------
        OpenDataServer
            Not started yet (use it as a context manager).
        """
        from infotrafic.etl import read_files

        result = read_files([Path(p) for p in paths])
        return cls(result.panel, result.arcs, **kwargs)

    @classmethod
    def demo(cls, **kwargs: Any) -> OpenDataServer:
        """Serve a small SYNTHETIC panel: arcs 4264 and 5672, the 744 hours of January 2023.

        January in Paris time: ``t_1h`` from 2022-12-31 23:00 to 2023-01-31 22:00 UTC.

        Flows follow a made-up daily profile; they are not real measurements. Use it for examples
        and smoke tests only.

        Parameters
        ----------
        **kwargs
            Passed to :class:`OpenDataServer`.

        Returns
        -------
        OpenDataServer
            Not started yet.
        """
        hours = pd.date_range("2022-12-31 23:00", periods=744, freq="h", tz="UTC")
        frames = []
        for arc, scale in ((4264, 900.0), (5672, 300.0)):
            hour = hours.tz_convert("Europe/Paris").hour.to_numpy()
            flow = np.round(scale * (0.3 + 0.7 * np.sin(np.pi * np.clip(hour - 5, 0, 19) / 19)))
            frames.append(
                pd.DataFrame(
                    {"arc_id": arc, "time": hours, "flow": flow, "occupancy": flow / 100.0}
                )
            )
        return cls(pd.concat(frames, ignore_index=True), **kwargs)

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> OpenDataServer:
        """Start serving in a background thread (idempotent)."""
        if self._httpd is None:
            httpd = HTTPServer((self._host, self._port), Handler)
            httpd.app = self
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._httpd = None
            self._thread = None

    def __enter__(self) -> OpenDataServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Root URL to give as the client's ``base_url`` (``http://127.0.0.1:<port>``)."""
        if self._httpd is None:
            raise RuntimeError("the server is not started; use it in a with block or call start()")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[RequestLog]:
        """Every request received so far (a copy)."""
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        """Forget the request log."""
        with self._lock:
            self._log.clear()

    def _record(self, entry: RequestLog) -> None:
        with self._lock:
            self._log.append(entry)

    # -- answers ----------------------------------------------------------------------------
    def _query(
        self, dataset: str, params: dict[str, list[str]]
    ) -> tuple[pd.DataFrame, list[str], str]:
        tz = param(params, "timezone", "UTC")
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise bad_request(f"Unknown timezone: {tz}") from None
        raw_select = param(params, "select", "*").strip()
        if raw_select in ("", "*"):
            select = list(FIELDS)
        else:
            select = [s.strip().strip("`") for s in raw_select.split(",") if s.strip()]
            unknown = [s for s in select if s not in FIELDS]
            if unknown:
                raise odsql_error(f"Unknown field: {unknown[0]}")
        table = self.table if dataset == self.dataset else self.table.iloc[:0]
        mask = np.ones(len(table), dtype=bool)
        view = _Fields(self.served, table)
        for where in params.get("where", []):
            if where.strip():
                try:
                    mask &= compile_where(where, _FILTER_TYPES, tz)(view)
                except ODSQLSyntaxError as exc:
                    raise odsql_error(str(exc)) from None
        for name, negate in (("refine", False), ("exclude", True)):
            for item in params.get(name, []):
                hit = self._facet(view, item, tz)
                mask &= ~hit if negate else hit
        table = table[mask]
        order = param(params, "order_by", "").strip()
        if order:
            keys, ascending = [], []
            for item in order.split(","):
                words = item.split()
                if not words or words[0].strip("`") not in FIELDS or len(words) > 2:
                    raise odsql_error(f"cannot order by {item.strip()!r}")
                keys.append(words[0].strip("`"))
                ascending.append(len(words) == 1 or words[1].lower() != "desc")
            keys = ["arc_id" if k == "iu_ac" else k for k in keys]
            extra = [k for k in keys if k not in table.columns]
            view = _Fields(self.served, table)
            sortable = table.assign(**{k: view[k] for k in extra})
            table = sortable.sort_values(keys, ascending=ascending, kind="stable")
            table = table.drop(columns=extra)
        return table, select, tz

    @staticmethod
    def _facet(table: _Fields, item: str, tz: str) -> np.ndarray[Any, np.dtype[np.bool_]]:
        name, sep, value = item.partition(":")
        if not sep or name not in _FILTER_TYPES:
            raise bad_request(
                f"Invalid refine/exclude {item!r}: use field:value with a known field"
            )
        if name == "t_1h":
            text = table["t_1h"].dt.tz_convert(tz).dt.strftime("%Y/%m/%d %H")
            hit: np.ndarray[Any, np.dtype[np.bool_]] = text.str.startswith(value).to_numpy(bool)
        else:
            hit = (table[name].astype(str) == value).to_numpy(dtype=bool)
        return hit

    def _metadata(self, dataset: str) -> dict[str, Any]:
        live = dataset == self.dataset
        fields: list[dict[str, Any]] = [
            {"name": n, "label": LABELS[n], "type": t, "description": None, "annotations": {}}
            for n, t in FIELDS.items()
        ]
        return {
            "dataset_id": dataset,
            "dataset_uid": "da_" + format(abs(hash(dataset)) % 36**6, "x"),
            "has_records": live,
            "features": ["analyze", "timeserie", "geo"] if live else [],
            "attachments": [a["metas"] for a in self._attachments(dataset)["attachments"]],
            "fields": fields if live else [],
            "metas": {
                "default": {
                    "title": "Comptage routier - Données trafic issues des capteurs permanents"
                    + ("" if live else " (historique)"),
                    "records_count": len(self.table) if live else 0,
                    "modified": self.modified.isoformat(),
                    "data_processed": self.modified.isoformat(),
                    "license": "ODbL",
                    "publisher": "Direction de la Voirie et des Déplacements - Ville de Paris",
                }
            },
        }

    def _attachments(self, dataset: str) -> dict[str, Any]:
        if dataset != self.history_dataset:
            return {"links": [], "attachments": []}
        items = []
        for title in sorted(self.archives):
            ident = title.replace(".", "_")
            href = f"{self.url}{API_PREFIX}/catalog/datasets/{dataset}/attachments/{ident}"
            items.append(
                {
                    "href": href,
                    "metas": {
                        "id": ident,
                        "title": title,
                        "url": f"odsfile://{title}",
                        "mimetype": "application/zip",
                    },
                }
            )
        return {"links": [], "attachments": items}

    def _archive_path(self, dataset: str, ident: str) -> Path:
        if dataset == self.history_dataset:
            for title, path in self.archives.items():
                if ident in (title, title.replace(".", "_")):
                    return path
        raise ApiError(404, {"message": f"Unknown attachment: {ident}", "error_code": "NotFound"})

    def rows_for(
        self, arcs: Sequence[int] | None = None, start: Any = None, end: Any = None
    ) -> pd.DataFrame:
        """Return the served panel's rows for arcs and ``start <= time < end`` (aware times).

        Parameters
        ----------
        arcs : sequence of int, optional
            Arc ids (all by default).
        start, end : time, optional
            UTC-aware bounds (or strings with an offset).

        Returns
        -------
        pandas.DataFrame
            The canonical rows, as the server holds them: what a complete fetch must store.
        """
        panel = self.panel
        keep = np.ones(len(panel), dtype=bool)
        if arcs is not None:
            keep &= panel["arc_id"].isin(list(arcs)).to_numpy()
        if start is not None:
            keep &= (panel["time"] >= pd.Timestamp(start)).to_numpy()
        if end is not None:
            keep &= (panel["time"] < pd.Timestamp(end)).to_numpy()
        return panel[keep].reset_index(drop=True)
