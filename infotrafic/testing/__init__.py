"""A loopback server speaking the Paris portal's API, for tests (yours and ours).

:class:`OpenDataServer` is a real HTTP server on ``127.0.0.1`` (random free port) that serves a
panel in the portal's shapes — metadata, ``/records`` with its limits and 400s, streamed
``/exports``, the ODSQL ``where`` subset, ``timezone``, the historical ZIP attachments with
``Range`` — and misbehaves on demand through :class:`Fault` objects pushed on
``server.faults``. The pytest plugin (:mod:`infotrafic.testing.pytest_plugin`, registered as an
entry point) provides the ``opendata_server`` fixture.
"""

from infotrafic.testing._faults import Fault, FaultQueue
from infotrafic.testing._odsql import ODSQLSyntaxError, compile_where
from infotrafic.testing._render import FIELDS, LABELS
from infotrafic.testing._server import OpenDataServer, RequestLog

__all__ = [
    "FIELDS",
    "LABELS",
    "Fault",
    "FaultQueue",
    "ODSQLSyntaxError",
    "OpenDataServer",
    "RequestLog",
    "compile_where",
]
