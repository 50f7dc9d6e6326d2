"""One source for the defaults, one HTTP core per client, held by the client and its fetcher."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from collections.abc import Iterator

import httpx
import pandas as pd
import pytest

from infotrafic.config import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_QUOTA_WAIT,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    Settings,
)
from infotrafic.opendata import OpenDataClient, RetryPolicy, _client, _fetch, _http
from infotrafic.opendata._config import make_timeout
from infotrafic.testing import OpenDataServer


def _defaults(cls: type) -> dict[str, object]:
    return {f.name: f.default for f in dataclasses.fields(cls)}


def test_settings_and_client_share_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TIMEOUT", "MAX_RETRIES", "MAX_QUOTA_WAIT", "BASE_URL"):
        monkeypatch.delenv(f"INFOTRAFIC_{name}", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    policy = _defaults(RetryPolicy)
    assert settings.max_retries == policy["max_retries"] == DEFAULT_MAX_RETRIES
    assert settings.max_quota_wait == policy["max_quota_wait"] == DEFAULT_MAX_QUOTA_WAIT
    assert settings.timeout == make_timeout(None).read == DEFAULT_TIMEOUT
    assert settings.base_url == DEFAULT_BASE_URL
    assert inspect.signature(OpenDataClient).parameters["base_url"].default == DEFAULT_BASE_URL


def test_from_settings_passes_every_setting_down() -> None:
    settings = Settings(
        base_url="http://127.0.0.1:9/portal/",
        api_key="secret",
        timeout=7.5,
        max_retries=2,
        max_quota_wait=12.0,
    )
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"total_count": 3, "results": []})

    with OpenDataClient.from_settings(settings) as client:
        assert client.base_url == "http://127.0.0.1:9/portal"
        assert (client.retry.max_retries, client.retry.max_quota_wait) == (2, 12.0)
        assert client.http._http.timeout.read == 7.5
    with OpenDataClient.from_settings(settings, base_url="http://127.0.0.1:8") as client:
        assert client.base_url == "http://127.0.0.1:8"
        client.http._http = httpx.Client(transport=httpx.MockTransport(answer))
        assert client.count_where(None) == 3
    assert seen[0].headers["Authorization"] == "Apikey secret"


def test_the_fetcher_holds_the_clients_http_core() -> None:
    assert not issubclass(OpenDataClient, _http.HttpCore)
    assert _http.HttpCore not in _fetch.Fetcher.__mro__
    with OpenDataClient("http://127.0.0.1:9", dataset="x") as client:
        assert isinstance(client.http, _http.HttpCore)
        assert client._fetcher.http is client.http
        assert (client.dataset, client.export_url("csv")) == (
            "x",
            "http://127.0.0.1:9/api/explore/v2.1/catalog/datasets/x/exports/csv",
        )
    # the fetcher does not know the client: it never imports the client's module
    imported = {
        node.module
        for node in ast.walk(ast.parse(inspect.getsource(_fetch)))
        if isinstance(node, ast.ImportFrom)
    }
    assert "infotrafic.opendata._http" in imported
    assert "infotrafic.opendata._client" not in imported
    assert _client.Fetcher is _fetch.Fetcher


def test_time_bounds_and_counts_come_from_the_core(demo_server: OpenDataServer) -> None:
    with OpenDataClient(demo_server.url) as client:
        bounds = client.time_bounds([4264])
        assert bounds == client.http.time_bounds([4264])
        assert bounds is not None and bounds[0] < bounds[1]
        assert bounds[0].tz is not None and str(bounds[0].tz) == "UTC"
        n = client.count(4264, bounds[0], bounds[1] + pd.Timedelta(hours=1))
        assert n == client.http.count_where('iu_ac = "4264"') > 0


@pytest.fixture(scope="module")
def demo_server() -> Iterator[OpenDataServer]:
    with OpenDataServer.demo() as server:
        yield server
