"""Client of the Paris open-data portal (Opendatasoft Explore API v2.1).

The only layer that speaks HTTP. :class:`OpenDataClient` queries small ranges through
``/records`` and bulk ranges through ``/exports`` (sliced by time, streamed to disk, verified,
resumable), keeps a store up to date with :meth:`OpenDataClient.sync`, and downloads the
historical yearly archives. Records of both API vintages (v2.1 flat, v1 envelopes) are typed
pydantic models. Failures end in the library's error tree
(:class:`~infotrafic.exceptions.OpenDataError` and its subclasses) after the retries decided by
one :class:`RetryPolicy`.
"""

from infotrafic.opendata._client import OpenDataClient
from infotrafic.opendata._config import (
    API_PATH,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DATASET,
    DEFAULT_TIMEOUT,
    HISTORY_DATASET,
    RECORDS_MAX_LIMIT,
    RECORDS_WINDOW,
    USER_AGENT,
    RetryPolicy,
)
from infotrafic.opendata._fetch import DEFAULT_FIELDS, FetchSummary, StoreLike
from infotrafic.opendata._models import (
    Attachment,
    DatasetField,
    DatasetInfo,
    Geometry,
    GeoPoint,
    RecordsPage,
    TrafficRecord,
    V1Record,
    V1SearchResponse,
    records_to_arcs,
    records_to_panel,
)
from infotrafic.opendata._parse import api_frame_to_panel, parse_export
from infotrafic.opendata._query import make_slices, odsql_where, to_utc

__all__ = [
    "API_PATH",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_DATASET",
    "DEFAULT_FIELDS",
    "DEFAULT_TIMEOUT",
    "HISTORY_DATASET",
    "RECORDS_MAX_LIMIT",
    "RECORDS_WINDOW",
    "USER_AGENT",
    "Attachment",
    "DatasetField",
    "DatasetInfo",
    "FetchSummary",
    "GeoPoint",
    "Geometry",
    "OpenDataClient",
    "RecordsPage",
    "RetryPolicy",
    "StoreLike",
    "TrafficRecord",
    "V1Record",
    "V1SearchResponse",
    "api_frame_to_panel",
    "make_slices",
    "odsql_where",
    "parse_export",
    "records_to_arcs",
    "records_to_panel",
    "to_utc",
]
