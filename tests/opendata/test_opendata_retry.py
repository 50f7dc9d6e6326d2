"""Retry decisions and error translation, with httpx.MockTransport (no server)."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

from infotrafic.exceptions import (
    InfotraficError,
    OpenDataError,
    QueryError,
    QuotaExceededError,
    ServerError,
    TransportError,
)
from infotrafic.opendata import OpenDataClient, RetryPolicy
from infotrafic.opendata._config import USER_AGENT

QUOTA_BODY = {
    "errorcode": 10002,
    "reset_time": "2021-01-26T00:00:00Z",
    "limit_time_unit": "day",
    "call_limit": 10000,
    "error": "Too many requests on the domain. Please contact the domain administrator.",
}
PAGE = {"total_count": 1, "results": [{"iu_ac": "4264", "t_1h": "2023-01-01T01:00:00+01:00"}]}


def _client(handler, **kwargs) -> tuple[OpenDataClient, list[float]]:  # type: ignore[no-untyped-def]
    waits: list[float] = []
    policy = kwargs.pop(
        "retry", RetryPolicy(max_retries=3, backoff_base=0.1, backoff_cap=0.3, jitter=0.0)
    )
    client = OpenDataClient(
        "https://portal.test",
        transport=httpx.MockTransport(handler),
        retry=policy,
        sleep=waits.append,
        **kwargs,
    )
    return client, waits


def test_headers_api_key_and_url() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=PAGE)

    client, _ = _client(handler, api_key="SECRET")
    assert client.count([4264], "2023-01-01", "2023-01-02") == 1
    request = seen[0]
    assert (
        request.url.path
        == "/api/explore/v2.1/catalog/datasets/comptages-routiers-permanents/records"
    )
    assert request.headers["Authorization"] == "Apikey SECRET"
    assert request.headers["User-Agent"] == USER_AGENT and "infotrafic/" in USER_AGENT
    assert request.url.params["where"].endswith('iu_ac = "4264"')
    assert request.extensions["timeout"]["connect"] == 10.0


def test_quota_within_bound_waits_for_reset_then_succeeds() -> None:
    calls = []
    reset = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)).isoformat()

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(
                429, json={**QUOTA_BODY, "reset_time": reset}, headers={"Retry-After": "20"}
            )
        return httpx.Response(200, json=PAGE)

    client, waits = _client(handler, retry=RetryPolicy(max_quota_wait=60, backoff_base=0.0))
    assert client.count() == 1
    assert waits == [20.0]  # Retry-After first, then the body's reset_time


def test_quota_reset_time_alone_is_used() -> None:
    answers = iter([httpx.Response(429, json={**QUOTA_BODY, "reset_time": _in(12)}),
                    httpx.Response(200, json=PAGE)])  # fmt: skip
    client, waits = _client(lambda r: next(answers), retry=RetryPolicy(max_quota_wait=60))
    assert client.count() == 1 and len(waits) == 1 and 10 < waits[0] <= 12


def _in(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


def test_quota_beyond_bound_raises_at_once_with_details() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json=QUOTA_BODY)

    client, waits = _client(handler, retry=RetryPolicy(max_quota_wait=5))
    reset = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).isoformat()
    QUOTA_BODY_LATE = {**QUOTA_BODY, "reset_time": reset}
    client2, waits2 = _client(
        lambda r: httpx.Response(429, json=QUOTA_BODY_LATE), retry=RetryPolicy(max_quota_wait=5)
    )
    with pytest.raises(QuotaExceededError) as info:
        client2.count()
    assert info.value.reset_time == reset and info.value.call_limit == 10000
    assert waits2 == []
    assert "quota" in str(info.value).lower()
    # a reset time in the past means "now": retried a bounded number of times then given up
    with pytest.raises(QuotaExceededError):
        client.count()
    assert len(waits) == RetryPolicy().max_retries


def test_5xx_backoff_is_exponential_and_bounded() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, text="busy")

    client, waits = _client(handler)
    with pytest.raises(ServerError) as info:
        client.count()
    assert len(calls) == 4 and waits == [0.1, 0.2, 0.3]
    assert "503" in str(info.value)
    assert isinstance(info.value, OpenDataError) and isinstance(info.value, InfotraficError)


def test_5xx_then_success() -> None:
    answers = iter([httpx.Response(500), httpx.Response(502), httpx.Response(200, json=PAGE)])
    client, waits = _client(lambda r: next(answers))
    assert client.count() == 1 and len(waits) == 2


def test_connection_errors_become_transport_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client, waits = _client(handler)
    with pytest.raises(TransportError) as info:
        client.count()
    assert len(waits) == 3 and isinstance(info.value.__cause__, httpx.ConnectError)


def test_broken_json_is_retried() -> None:
    answers = iter(
        [httpx.Response(200, content=b'{"total_count": 1, "resu'), httpx.Response(200, json=PAGE)]
    )
    client, waits = _client(lambda r: next(answers))
    assert client.count() == 1 and len(waits) == 1


def test_400_is_a_query_error_with_the_server_message_and_not_retried() -> None:
    body = {"message": "ODSQL query is malformed: Unknown field: foo", "error_code": "ODSQLError"}
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(400, json=body)

    client, waits = _client(handler)
    with pytest.raises(QueryError) as info:
        client.count()
    assert info.value.server_message == body["message"] and info.value.error_code == "ODSQLError"
    assert len(calls) == 1 and waits == []


def test_other_4xx_is_an_opendata_error() -> None:
    client, _ = _client(lambda r: httpx.Response(404, content=json.dumps({"message": "nope"})))
    with pytest.raises(OpenDataError, match="404"):
        client.dataset_info()


def test_backoff_jitter_stays_within_bounds() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=8.0, jitter=0.5)
    for attempt in range(8):
        base = min(8.0, 2.0**attempt)
        assert base <= policy.backoff(attempt) <= base * 1.5
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)


def test_fetch_without_a_count_endpoint_still_works(tmp_path) -> None:  # type: ignore[no-untyped-def]
    csv = (
        "\ufeffiu_ac;t_1h;q;k;etat_trafic;etat_barre\r\n"
        "4264;2023-01-01T00:00:00+00:00;5.0;1.0;Fluide;Invalide\r\n"
    ).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/records"):
            return httpx.Response(404, json={"message": "no records here"})
        return httpx.Response(200, content=csv)

    client, _ = _client(handler)
    panel = client.fetch([4264], "2023-01-01T00:00Z", "2023-01-01T01:00Z", out_dir=tmp_path)
    assert panel["flow"].tolist() == [5.0]
