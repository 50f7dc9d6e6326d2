"""The client against the real loopback server: queries and every fault."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from infotrafic.exceptions import (
    ConfigurationError,
    QueryError,
    QuotaExceededError,
    ServerError,
    TransportError,
)
from infotrafic.opendata import OpenDataClient, RetryPolicy, parse_export
from infotrafic.testing import Fault, OpenDataServer

pytestmark = pytest.mark.server

WEEK = ("2023-03-01", "2023-03-08")


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True
    )


def _exports(server: OpenDataServer) -> list[str]:
    return [r.fault or str(r.status) for r in server.requests if "/exports/" in r.path]


def test_records_pages_through_more_than_100_rows(
    server: OpenDataServer, client: OpenDataClient
) -> None:
    panel = client.records([4264, 5672], *WEEK)
    expected = server.rows_for([4264, 5672], "2023-02-28T23:00Z", "2023-03-07T23:00Z")
    assert len(panel) == len(expected) == 2 * 168
    _same(panel, expected)
    offsets = [r.params["offset"][0] for r in server.requests if r.path.endswith("/records")]
    assert offsets == ["0", "100", "200", "300"]
    assert client.count([4264, 5672], *WEEK) == 336


def test_records_refuses_queries_beyond_the_window(client: OpenDataClient) -> None:
    with pytest.raises(ConfigurationError, match="fetch"):
        client.records([4264, 5672])
    assert len(client.records([4264], limit=5)) == 5


def test_bad_query_is_a_query_error_with_the_server_message(client: OpenDataClient) -> None:
    with pytest.raises(QueryError) as info:
        client.records([4264], *WEEK, fields=["not_a_field"])
    assert info.value.error_code == "ODSQLError"
    assert info.value.server_message is not None and "not_a_field" in info.value.server_message
    with pytest.raises(QueryError):
        client.count_where("t_1h >= date'2023-01-01' AND AND")


def test_dataset_info(server: OpenDataServer, client: OpenDataClient) -> None:
    info = client.dataset_info()
    assert info.records_count == len(server.panel) and info.has_records
    assert "t_1h" in {f.name for f in info.fields}


def test_fetch_without_store_returns_exactly_the_server_rows(
    server: OpenDataServer, client: OpenDataClient, tmp_path: Path
) -> None:
    panel = client.fetch([4264, 191], "2023-01-20", "2023-03-10", out_dir=tmp_path)
    _same(panel, server.rows_for([4264, 191], "2023-01-19T23:00Z", "2023-03-09T23:00Z"))
    assert _exports(server) == ["200", "200", "200"]  # January, February, March slices
    files = sorted(tmp_path.glob("*.csv"))
    assert len(files) == 3 and not list(tmp_path.glob("*.part"))
    # the files are real exports: the ETL readers load them too, to the same rows
    from infotrafic.etl import read_file

    for f in files:
        _same(read_file(f).panel, parse_export(f, "csv").panel)


def test_french_label_exports_parse_like_the_etl_reader(shared_data: Path) -> None:
    from infotrafic.etl import read_file

    path = shared_data / "exports" / "arc4264_2022-11_2023-12.csv.gz"
    parsed = parse_export(path, "csv")
    assert parsed.rows == 9338 and len(parsed.quarantine) == 0
    _same(parsed.panel, read_file(path).panel)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet"])
def test_fetch_other_formats(
    server: OpenDataServer, client: OpenDataClient, tmp_path: Path, fmt: str
) -> None:
    panel = client.fetch([5672], *WEEK, out_dir=tmp_path, export_format=fmt)
    _same(panel, server.rows_for([5672], "2023-02-28T23:00Z", "2023-03-07T23:00Z"))


@pytest.mark.parametrize(
    "fault",
    [
        Fault.quota(),
        Fault.server_error(500),
        Fault.server_error(503),
        Fault.drop(),
        Fault.truncate(0.3, mode="length"),
        Fault.truncate(0.6, mode="chunked"),
        Fault.truncate(0.5, mode="clean"),
        Fault.corrupt(),
    ],
    ids=lambda f: f"{f.kind}-{f.mode if f.kind == 'truncate' else f.status}",
)
def test_each_fault_on_an_export_is_retried_alone(
    server: OpenDataServer, client: OpenDataClient, tmp_path: Path, fault: Fault
) -> None:
    # the fault hits the 2nd slice's export only; the 1st and 3rd are downloaded once
    server.faults.push(Fault.slow(0.0, path="/exports/"), replace(fault, path="/exports/"))
    panel = client.fetch([4264], "2023-01-25", "2023-03-05", out_dir=tmp_path)
    _same(panel, server.rows_for([4264], "2023-01-24T23:00Z", "2023-03-04T23:00Z"))
    log = [r for r in server.requests if "/exports/" in r.path]
    wheres = [r.params["where"][0] for r in log]
    assert len(log) == 4 and wheres[1] == wheres[2] and len(set(wheres)) == 3
    assert log[1].fault == fault.kind and log[2].fault is None
    assert not list(tmp_path.glob("*.part"))


def test_slow_answer_beyond_the_timeout_is_retried(
    server: OpenDataServer, fast_retry: RetryPolicy, caplog: pytest.LogCaptureFixture
) -> None:
    server.faults.push(Fault.slow(1.0, path="/records"))
    with OpenDataClient(server.url, retry=fast_retry, timeout=0.3) as client:
        assert client.count([4264], *WEEK) == 168
    assert "timed out; retry 1" in caplog.text and len(server.faults) == 0


def test_persistent_faults_end_in_the_error_tree(
    server: OpenDataServer, client: OpenDataClient
) -> None:
    server.faults.push(Fault.server_error(503, times=10))
    with pytest.raises(ServerError, match="503"):
        client.count()
    assert len([r for r in server.requests if r.fault == "error"]) == 4  # 1 + max_retries
    server.faults.clear()
    server.faults.push(Fault.drop(times=10))
    with pytest.raises(TransportError):
        client.count()
    server.faults.clear()
    server.faults.push(Fault.truncate(times=10, path="/exports/"))
    with pytest.raises(TransportError, match="export"):
        client.fetch([4264], *WEEK)


def test_quota_beyond_the_allowed_wait(real_data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    # A server of its own: a slow request of an earlier test must not consume the fault.
    with OpenDataServer(*real_data) as server:
        server.faults.push(Fault.quota(times=5, reset_in=3600, retry_after=3600))
        client = OpenDataClient(server.url, retry=RetryPolicy(max_quota_wait=10))
        with client, pytest.raises(QuotaExceededError) as info:
            client.count()
        assert info.value.call_limit == 10000 and info.value.reset_time is not None
        assert len(server.requests) == 1  # no pointless retry


def test_quota_within_the_allowed_wait_waits(
    server: OpenDataServer, client: OpenDataClient
) -> None:
    server.faults.push(Fault.quota(times=2, reset_in=0.2))
    assert client.count([4264], *WEEK) == 168
    # Only this test's requests: a slow earlier test may still have a request in flight.
    log = [r for r in server.requests if "/records" in r.path]
    statuses = [r.status for r in log]
    assert statuses.count(429) == 2 and statuses[-1] == 200
    last_429 = max(i for i, s in enumerate(statuses) if s == 429)
    assert log[-1].time - log[last_429].time >= 0.15
