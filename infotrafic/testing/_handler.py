"""The request handler of the loopback server: routing, answers, faults on the wire."""

from __future__ import annotations

import datetime as _dt
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from infotrafic.testing._faults import Fault, FaultQueue
from infotrafic.testing._render import (
    Served,
    iter_csv,
    iter_json,
    iter_jsonl,
    parquet_bytes,
    rows,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "API_PREFIX",
    "ApiError",
    "App",
    "Handler",
    "HTTPServer",
    "RequestLog",
    "bad_request",
    "int_param",
    "odsql_error",
    "param",
]

API_PREFIX = "/api/explore/v2.1"


@dataclass(frozen=True)
class RequestLog:
    """One request the server received, with what it answered."""

    method: str
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]
    status: int | None
    fault: str | None
    time: float = field(default_factory=time.time)


class App(Protocol):
    """What the handler asks of the server it answers for (the :class:`OpenDataServer`).

    A protocol rather than an import of the server: the server imports this module.
    """

    faults: FaultQueue
    served: Served
    dataset: str
    history_dataset: str
    export_content_length: bool

    def _record(self, entry: RequestLog) -> None: ...  # pragma: no cover

    def _metadata(self, dataset: str) -> dict[str, Any]: ...  # pragma: no cover

    def _query(
        self, dataset: str, params: dict[str, list[str]]
    ) -> tuple[pd.DataFrame, list[str], str]: ...  # pragma: no cover

    def _attachments(self, dataset: str) -> dict[str, Any]: ...  # pragma: no cover

    def _archive_path(self, dataset: str, ident: str) -> Path: ...  # pragma: no cover


class ApiError(Exception):
    """An answer with an error status and a JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message"))
        self.status = status
        self.body = body


def bad_request(message: str, code: str = "InvalidRESTParameterError") -> ApiError:
    return ApiError(400, {"message": message, "error_code": code})


def odsql_error(message: str) -> ApiError:
    return bad_request(f"ODSQL query is malformed: {message}", "ODSQLError")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet (the request log records everything)."""

    # -- plumbing ---------------------------------------------------------------------------
    def do_GET(self) -> None:
        """Answer a GET: apply a pending fault, then route."""
        app = self.server.app
        split = urlsplit(self.path)
        path = unquote(split.path)
        params = parse_qs(split.query, keep_blank_values=True)
        self._status: int | None = None
        self._logged = False
        fault = app.faults.take(path)
        self._entry = (path, params, None if fault is None else fault.kind)
        try:
            self._serve(path, params, fault)
        except ApiError as exc:
            self._send_json(exc.status, exc.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self._log()

    def _log(self) -> None:
        """Record the request once, as soon as its status is known (before the body is sent)."""
        if not self._logged:
            self._logged = True
            path, params, fault = self._entry
            entry = RequestLog("GET", path, params, dict(self.headers.items()), self._status, fault)
            self.server.app._record(entry)

    def _serve(self, path: str, params: dict[str, list[str]], fault: Fault | None) -> None:
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
            fault = None
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            return
        if fault is not None and fault.kind == "quota":
            self._quota(fault)
            return
        if fault is not None and fault.kind == "error":
            self._send_json(
                fault.status, {"error": "injected server error", "status": fault.status}
            )
            return
        if fault is not None and fault.kind == "unavailable":
            message = f"{path} is not available for this dataset"
            raise ApiError(fault.status, {"message": message, "error_code": "NotFound"})
        self._route(path, params, fault)

    def _quota(self, fault: Fault) -> None:
        reset = _dt.datetime.now(_dt.UTC) + _dt.timedelta(seconds=fault.reset_in)
        headers = {
            "X-RateLimit-Limit": "10000",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{reset.timestamp():.3f}",
        }
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        body = {
            "errorcode": 10002,
            "reset_time": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "limit_time_unit": "day",
            "call_limit": 10000,
            "error": "Too many requests on the domain. Please contact the domain administrator.",
        }
        self._send_json(429, body, headers)

    def _head(self, status: int, headers: Mapping[str, str]) -> None:
        self._status = status
        self._log()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def _send_json(
        self,
        status: int,
        body: Any,
        headers: Mapping[str, str] | None = None,
        fault: Fault | None = None,
    ) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self._send(status, [data], "application/json; charset=utf-8", headers, fault, whole=True)

    def _send(
        self,
        status: int,
        chunks: Iterable[bytes],
        ctype: str,
        headers: Mapping[str, str] | None = None,
        fault: Fault | None = None,
        *,
        whole: bool = False,
    ) -> None:
        head = {"Content-Type": ctype, **(headers or {})}
        if fault is None and not whole and not self.server.app.export_content_length:
            head["Transfer-Encoding"] = "chunked"
            self._head(status, head)
            for chunk in chunks:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
            return
        body = b"".join(chunks)
        if fault is not None and fault.kind == "corrupt":
            mid = len(body) // 2
            body = body[:mid] + b'\x00"broken;;"{[\r\n"' + body[mid + 16 :]
        if fault is None or fault.kind != "truncate":
            head["Content-Length"] = str(len(body))
            self._head(status, head)
            self.wfile.write(body)
            return
        cut = max(1, int(len(body) * fault.fraction))
        self.close_connection = True
        if fault.mode in ("clean", "close"):
            newline = body.rfind(b"\n", 0, cut)
            part = body[: newline + 1] if newline >= 0 else body[:cut]
            if fault.mode == "clean":
                head["Content-Length"] = str(len(part))
            else:  # delimited by the end of the connection (HTTP/1.1 allows it for answers)
                head["Connection"] = "close"
            self._head(status, head)
            self.wfile.write(part)
        elif fault.mode == "chunked":
            head["Transfer-Encoding"] = "chunked"
            self._head(status, head)
            self.wfile.write(b"%x\r\n%s\r\n" % (cut, body[:cut]))
        else:
            head["Content-Length"] = str(len(body))
            self._head(status, head)
            self.wfile.write(body[:cut])
        self.wfile.flush()

    # -- routes -----------------------------------------------------------------------------
    def _route(self, path: str, params: dict[str, list[str]], fault: Fault | None) -> None:
        app = self.server.app
        if not path.startswith(API_PREFIX + "/catalog/datasets"):
            raise ApiError(404, {"message": f"Unknown path {path}", "error_code": "NotFound"})
        parts = [p for p in path[len(API_PREFIX) :].split("/") if p][2:]
        if not parts:
            ids = [app.dataset, app.history_dataset]
            body = {"total_count": 2, "results": [app._metadata(d) for d in ids]}
            self._send_json(200, body, fault=fault)
            return
        dataset, rest = parts[0], parts[1:]
        if dataset not in (app.dataset, app.history_dataset):
            raise ApiError(
                404, {"message": f"Unknown dataset: {dataset}", "error_code": "NotFound"}
            )
        if not rest:
            self._send_json(200, app._metadata(dataset), fault=fault)
        elif rest == ["records"]:
            self._records(dataset, params, fault)
        elif len(rest) == 2 and rest[0] == "exports":
            self._export(dataset, rest[1], params, fault)
        elif rest == ["attachments"]:
            self._send_json(200, app._attachments(dataset), fault=fault)
        elif len(rest) == 2 and rest[0] == "attachments":
            self._attachment(dataset, rest[1], fault)
        else:
            raise ApiError(404, {"message": f"Unknown path {path}", "error_code": "NotFound"})

    def _records(self, dataset: str, params: dict[str, list[str]], fault: Fault | None) -> None:
        limit = int_param(params, "limit", 10)
        offset = int_param(params, "offset", 0)
        if not 0 <= limit <= 100:
            raise bad_request(
                f"Invalid value for limit parameter: {limit} (must be between 0 and 100)"
            )
        if offset < 0:
            raise bad_request(f"Invalid value for offset parameter: {offset}")
        if offset + limit >= 10_000:
            raise bad_request(
                "Invalid value for offset/limit: offset + limit must be lower than 10000, "
                "please use the /exports endpoint to get all the records"
            )
        table, select, tz = self.server.app._query(dataset, params)
        results = rows(self.server.app.served, table.iloc[offset : offset + limit], select, tz)
        self._send_json(200, {"total_count": len(table), "results": results}, fault=fault)

    def _export(
        self, dataset: str, fmt: str, params: dict[str, list[str]], fault: Fault | None
    ) -> None:
        served = self.server.app.served
        table, select, tz = self.server.app._query(dataset, params)
        limit = int_param(params, "limit", -1)
        if limit >= 0:
            table = table.iloc[:limit]
        chunks: Iterator[bytes]
        if fmt == "csv":
            delimiter = param(params, "delimiter", ";")
            chunks = iter_csv(
                served,
                table,
                select,
                tz,
                delimiter=delimiter,
                with_bom=param(params, "with_bom", "true").lower() != "false",
                use_labels=param(params, "use_labels", "false").lower() == "true",
            )
            ctype = "text/csv; charset=utf-8"
        elif fmt == "json":
            chunks, ctype = iter_json(served, table, select, tz), "application/json; charset=utf-8"
        elif fmt == "jsonl":
            chunks, ctype = (
                iter_jsonl(served, table, select, tz),
                "application/jsonl; charset=utf-8",
            )
        elif fmt == "parquet":
            chunks, ctype = (
                iter([parquet_bytes(served, table, select, tz)]),
                "application/octet-stream",
            )
        else:
            raise bad_request(f"Unknown export format: {fmt}", "UnknownExportFormat")
        name = f"{dataset}.{fmt}"
        self._send(
            200, chunks, ctype, {"Content-Disposition": f'attachment; filename="{name}"'}, fault
        )

    def _attachment(self, dataset: str, ident: str, fault: Fault | None) -> None:
        path = self.server.app._archive_path(dataset, ident)
        size = path.stat().st_size
        start = 0
        status = 200
        headers = {"Accept-Ranges": "bytes"}
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes="):
            first = wanted[6:].split("-", 1)[0]
            start = int(first) if first.isdigit() else 0
            if start >= size:
                self._send(
                    416, [b""], "text/plain", {"Content-Range": f"bytes */{size}"}, whole=True
                )
                return
            status = 206
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        with path.open("rb") as fh:
            fh.seek(start)
            data = fh.read()
        self._send(status, [data], "application/zip", headers, fault, whole=True)


def param(params: dict[str, list[str]], name: str, default: str) -> str:
    values = params.get(name)
    return values[-1] if values else default


def int_param(params: dict[str, list[str]], name: str, default: int) -> int:
    raw = param(params, name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise bad_request(
            f"Invalid value for {name} parameter: {raw!r} is not an integer"
        ) from None


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    app: App
