"""Client of the Paris open-data portal (Opendatasoft Explore API v2.1).

The only layer that speaks HTTP. :class:`OpenDataClient` queries small ranges through
``/records`` and bulk ranges through ``/exports`` (sliced by time, streamed to disk, verified,
resumable), keeps a store up to date with :meth:`OpenDataClient.sync`, and downloads the
historical yearly archives. Records of both API vintages (v2.1 flat, v1 envelopes) are typed
pydantic models. Failures end in the library's error tree (:class:`OpenDataError` and its
subclasses, re-exported here) after the retries decided by one :class:`RetryPolicy`.

The names below are what a user needs: the client and its settings, what its methods return, the
errors to catch, and the record models and converters. The building blocks (query helpers,
portal limits, sub-models) stay in their modules (``infotrafic.opendata._query``, ``._config``,
``._models``).
"""

from infotrafic.exceptions import (
    IncompleteFetchError,
    OpenDataError,
    QueryError,
    QuotaExceededError,
    ServerError,
    TransportError,
)
from infotrafic.opendata._client import OpenDataClient
from infotrafic.opendata._config import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, RetryPolicy
from infotrafic.opendata._fetch import FetchSummary, StoreLike
from infotrafic.opendata._models import (
    Attachment,
    DatasetInfo,
    TrafficRecord,
    V1SearchResponse,
    records_to_arcs,
    records_to_panel,
)
from infotrafic.opendata._parse import parse_export

# Importable from here for existing code (benchmarks), not part of the documented surface.
from infotrafic.opendata._query import make_slices as make_slices
from infotrafic.opendata._query import to_utc as to_utc

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "Attachment",
    "DatasetInfo",
    "FetchSummary",
    "IncompleteFetchError",
    "OpenDataClient",
    "OpenDataError",
    "QueryError",
    "QuotaExceededError",
    "RetryPolicy",
    "ServerError",
    "StoreLike",
    "TrafficRecord",
    "TransportError",
    "V1SearchResponse",
    "parse_export",
    "records_to_arcs",
    "records_to_panel",
]
