"""Fixtures of the opendata tests: real data served by the loopback server, fast retries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from infotrafic.opendata import OpenDataClient, RetryPolicy
from infotrafic.testing import OpenDataServer

#: Tiny waits so that the fault tests stay fast.
FAST = RetryPolicy(
    max_retries=3, backoff_base=0.001, backoff_cap=0.01, jitter=0.0, max_quota_wait=2.0
)


@pytest.fixture
def fast_retry() -> RetryPolicy:
    """A retry policy with millisecond backoffs and a 2 s quota bound."""
    return FAST


@pytest.fixture(scope="session")
def real_data(shared_data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Panel and arcs of the real exports of arcs 4264, 5672 and 191 (2022-11 -> 2023-12)."""
    from infotrafic.etl import read_files

    files = sorted((shared_data / "exports").glob("arc*_2022-11_2023-12.csv.gz"))
    result = read_files(files)
    return result.panel, result.arcs


@pytest.fixture(scope="module")
def real_server(real_data: tuple[pd.DataFrame, pd.DataFrame]) -> Iterator[OpenDataServer]:
    panel, arcs = real_data
    with OpenDataServer(panel, arcs) as server:
        yield server


@pytest.fixture
def server(real_server: OpenDataServer) -> Iterator[OpenDataServer]:
    """The real-data server with no pending fault and an empty request log."""
    real_server.faults.clear()
    real_server.clear_requests()
    yield real_server
    real_server.faults.clear()


@pytest.fixture
def client(server: OpenDataServer) -> Iterator[OpenDataClient]:
    with OpenDataClient(server.url, retry=FAST, timeout=10.0) as c:
        yield c
