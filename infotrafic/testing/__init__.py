"""A loopback server speaking the Paris portal's API, for tests (yours and ours).

:class:`OpenDataServer` is a real HTTP server on ``127.0.0.1`` (random free port) that serves a
panel in the portal's shapes — metadata, ``/records`` with its limits and 400s, streamed
``/exports``, the ODSQL ``where`` subset, ``timezone``, the historical ZIP attachments with
``Range`` — and misbehaves on demand through :class:`Fault` objects pushed on
``server.faults``. The pytest plugin (:mod:`infotrafic.testing.pytest_plugin`, registered as an
entry point) provides the ``opendata_server`` fixture.

:func:`check_forecaster` runs the forecaster contract checks on any forecaster (yours
included), like scikit-learn's ``check_estimator``; :func:`check_builder` does the same for a
feature builder (names declared once, no look-ahead, lookback honoured).

The names that need pandas (the server, the ODSQL compiler, the field tables) are imported on
first use, so that loading the plugin in every pytest run costs nothing until a test uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from infotrafic._lazy import attach
from infotrafic.testing._faults import Fault, FaultQueue

if TYPE_CHECKING:
    from infotrafic.exceptions import ForecasterCheckError
    from infotrafic.features import check_builder
    from infotrafic.testing._check import CheckData, check_forecaster, forecaster_checks
    from infotrafic.testing._odsql import ODSQLSyntaxError, compile_where
    from infotrafic.testing._render import FIELDS, LABELS
    from infotrafic.testing._server import OpenDataServer, RequestLog

_LAZY: dict[str, str] = {
    "CheckData": "infotrafic.testing._check",
    "ForecasterCheckError": "infotrafic.exceptions",
    "check_builder": "infotrafic.features",
    "check_forecaster": "infotrafic.testing._check",
    "forecaster_checks": "infotrafic.testing._check",
    "FIELDS": "infotrafic.testing._render",
    "LABELS": "infotrafic.testing._render",
    "ODSQLSyntaxError": "infotrafic.testing._odsql",
    "OpenDataServer": "infotrafic.testing._server",
    "RequestLog": "infotrafic.testing._server",
    "compile_where": "infotrafic.testing._odsql",
}


__getattr__, __dir__ = attach(__name__, _LAZY)

__all__ = [
    "FIELDS",
    "LABELS",
    "CheckData",
    "Fault",
    "FaultQueue",
    "ForecasterCheckError",
    "ODSQLSyntaxError",
    "OpenDataServer",
    "RequestLog",
    "check_builder",
    "check_forecaster",
    "compile_where",
    "forecaster_checks",
]
