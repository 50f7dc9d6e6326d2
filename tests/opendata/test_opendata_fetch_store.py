"""Bulk fetches into the ParquetStore: faults, resume, incremental sync, kill and re-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from infotrafic.etl import ParquetStore
from infotrafic.exceptions import TransportError
from infotrafic.opendata import OpenDataClient
from infotrafic.testing import Fault, OpenDataServer

pytestmark = pytest.mark.server

YEAR = ("2022-11-01", "2023-11-01")  # Paris local time
YEAR_UTC = ("2022-10-31T23:00Z", "2023-10-31T23:00Z")


def _assert_store_holds(store: ParquetStore, expected: pd.DataFrame) -> None:
    got = store.read()
    assert not got.duplicated(["arc_id", "time"]).any()
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), expected.reset_index(drop=True), check_exact=True
    )


@pytest.mark.slow
def test_year_of_two_arcs_with_quota_503_and_truncated_export(
    server: OpenDataServer, client: OpenDataClient, tmp_path: Path
) -> None:
    store = ParquetStore(tmp_path / "store")
    server.faults.push(
        Fault.quota(reset_in=0.05),
        Fault.server_error(503, path="/exports/"),
        Fault.truncate(0.5, path="/exports/"),
    )
    summary = client.fetch([4264, 5672], *YEAR, store=store)
    expected = server.rows_for([4264, 5672], *YEAR_UTC)
    assert len(expected) > 10_000
    _assert_store_holds(store, expected)  # no duplicates, no rows of arc 191
    assert summary.slices == 12 and summary.downloaded == 12 and summary.rows == len(expected)
    assert [r.fault for r in server.requests if r.fault] == ["quota", "error", "truncate"]
    assert (store.raw_dir / "opendata" / "manifest.json").exists()
    # a second identical fetch resumes everything and changes nothing
    again = client.fetch([4264, 5672], *YEAR, store=store)
    assert again.resumed == 12 and again.downloaded == 0
    _assert_store_holds(store, expected)


def test_aborted_fetch_resumes_from_the_completed_slices(
    server: OpenDataServer, client: OpenDataClient, tmp_path: Path
) -> None:
    store = ParquetStore(tmp_path / "store")
    server.faults.push(
        Fault.slow(0.0, times=3, path="/exports/"), Fault.drop(times=99, path="/exports/")
    )
    with pytest.raises(TransportError):
        client.fetch([4264, 5672], "2023-01-01", "2023-07-01", store=store)
    assert len(store.read()) > 0
    server.faults.clear()
    server.clear_requests()
    summary = client.fetch([4264, 5672], "2023-01-01", "2023-07-01", store=store)
    assert (summary.resumed, summary.downloaded) == (3, 3)
    assert len([r for r in server.requests if "/exports/" in r.path]) == 3
    _assert_store_holds(
        store, server.rows_for([4264, 5672], "2022-12-31T23:00Z", "2023-06-30T22:00Z")
    )


def test_sync_fetches_only_new_hours_per_arc(
    server: OpenDataServer, client: OpenDataClient, tmp_path: Path
) -> None:
    store = ParquetStore(tmp_path / "store")
    store.ingest(server.rows_for([4264], None, "2023-06-01T00:00Z"))
    store.ingest(server.rows_for([5672], None, "2023-09-01T00:00Z"))
    summary = client.sync(store)
    _assert_store_holds(store, server.rows_for([4264, 5672]))
    wheres = [r.params["where"][0] for r in server.requests if "/exports/" in r.path]
    assert wheres and all(w.split("date'")[1][:20] >= "2023-06-01T00:00:00Z" for w in wheres)
    assert summary.downloaded == len(wheres)
    server.clear_requests()
    again = client.sync(store)
    assert again.downloaded == 0 and not [r for r in server.requests if "/exports/" in r.path]
    _assert_store_holds(store, server.rows_for([4264, 5672]))


_SYNC_SCRIPT = """
import sys
from infotrafic.etl import ParquetStore
from infotrafic.opendata import OpenDataClient, RetryPolicy
client = OpenDataClient(sys.argv[1], retry=RetryPolicy(backoff_base=0.001, jitter=0.0))
client.sync(ParquetStore(sys.argv[2]), arcs=[4264, 5672])
"""


@pytest.mark.slow
def test_sync_killed_half_way_then_rerun_equals_one_clean_run(
    server: OpenDataServer, client: OpenDataClient, tmp_path: Path
) -> None:
    clean = ParquetStore(tmp_path / "clean")
    client.sync(clean, arcs=[4264, 5672])
    server.clear_requests()

    killed = tmp_path / "killed"
    server.faults.push(
        Fault.slow(0.0, times=5, path="/exports/"), Fault.slow(20.0, path="/exports/")
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", _SYNC_SCRIPT, server.url, str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while len(server.faults) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert len(server.faults) == 0, "the subprocess never reached the 6th export"
        os.kill(proc.pid, signal.SIGKILL)  # mid-download of the 6th slice
    finally:
        proc.wait(timeout=30)
    half = ParquetStore(killed).read()
    assert 0 < len(half) < len(clean.read())

    client.sync(ParquetStore(killed), arcs=[4264, 5672])
    _assert_store_holds(ParquetStore(killed), clean.read())
