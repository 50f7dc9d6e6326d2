"""Pytest plugin: the ``opendata_server`` fixture (registered through the ``pytest11`` entry point).

Use it in your own tests to exercise code that talks to the portal without the internet::

    def test_my_code(opendata_server):
        opendata_server.faults.push(Fault.quota(times=1))
        client = OpenDataClient(opendata_server.url)
        ...

By default the server serves :meth:`OpenDataServer.demo` (SYNTHETIC data: arcs 4264 and 5672,
January 2023). To serve your own data, override the ``opendata_panel`` fixture (and optionally
``opendata_arcs``) in your ``conftest.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # pandas and the server are imported when a test first uses a fixture
    from collections.abc import Iterator

    import pandas as pd

    from infotrafic.testing._server import OpenDataServer

__all__ = ["opendata_arcs", "opendata_panel", "opendata_server"]


@pytest.fixture
def opendata_panel() -> pd.DataFrame | None:
    """Panel served by ``opendata_server`` (``None``: the synthetic demo panel)."""
    return None


@pytest.fixture
def opendata_arcs() -> pd.DataFrame | None:
    """Arcs table served by ``opendata_server`` (``None``: no arc attributes)."""
    return None


@pytest.fixture
def opendata_server(
    opendata_panel: pd.DataFrame | None, opendata_arcs: pd.DataFrame | None
) -> Iterator[OpenDataServer]:
    """Yield a started :class:`OpenDataServer` on 127.0.0.1; stopped after the test."""
    from infotrafic.testing._server import OpenDataServer

    if opendata_panel is None:
        server = OpenDataServer.demo(arcs=opendata_arcs)
    else:
        server = OpenDataServer(opendata_panel, opendata_arcs)
    with server:
        yield server
