"""web_search with the mock provider and against a loopback server speaking SearXNG's API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from services.sandbox.web_search import (
    MAX_QUERY_CHARS,
    MAX_SNIPPET_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
)
from tests.sandbox.conftest import Sandbox, running_sandbox
from tests.support.fake_searxng import FakeSearxng
from tests.support.json_values import json_object
from tests.support.processes import free_port


def search(service: Sandbox, query: str) -> tuple[str, dict[str, Any], str]:
    reply = service.tool("web_search", {"query": query})
    return reply.status, json_object(reply.stdout), reply.stderr


def test_mock_search_is_deterministic_and_labelled(sandbox: Sandbox) -> None:
    status, first, _ = search(sandbox, "python asyncio")
    _, second, _ = search(sandbox, "python asyncio")
    assert status == "ok"
    assert first == second
    assert first["provider"] == "mock"
    assert first["query"] == "python asyncio"
    results = first["results"]
    assert isinstance(results, list) and results
    assert set(results[0]) == {"title", "url", "snippet"}


def test_mock_search_needs_a_query(sandbox: Sandbox) -> None:
    reply = sandbox.tool("web_search", {"query": "  "})
    assert reply.status == "invalid_args"
    assert "query" in reply.stderr


@pytest.fixture(scope="module")
def searxng() -> Iterator[FakeSearxng]:
    with FakeSearxng() as fake:
        yield fake


@pytest.fixture(scope="module")
def searx_sandbox(
    searxng: FakeSearxng, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sandbox]:
    with running_sandbox(
        tmp_path_factory.mktemp("searx"),
        WEB_SEARCH_PROVIDER="searxng",
        SEARXNG_URL=searxng.base_url,
    ) as service:
        yield service


@pytest.fixture
def fake(searxng: FakeSearxng) -> Iterator[FakeSearxng]:
    searxng.behaviour = "ok"
    yield searxng
    searxng.behaviour = "ok"


def test_searxng_results_are_mapped(searx_sandbox: Sandbox, fake: FakeSearxng) -> None:
    status, body, _ = search(searx_sandbox, "rust async")
    assert status == "ok"
    assert fake.queries[-1] == "rust async"
    assert body == {
        "query": "rust async",
        "results": [
            {
                "title": "SearXNG hit 1 for rust async",
                "url": "https://searx.test/1/rust-async",
                "snippet": "Snippet 1 about rust async.",
            },
            {
                "title": "SearXNG hit 2 for rust async",
                "url": "https://searx.test/2/rust-async",
                "snippet": "Snippet 2 about rust async.",
            },
        ],
        "provider": "searxng",
    }


@pytest.mark.parametrize("code", [500, 429])
def test_searxng_http_errors(searx_sandbox: Sandbox, fake: FakeSearxng, code: int) -> None:
    fake.behaviour, fake.error_status = "error", code
    status, body, stderr = search(searx_sandbox, "anything")
    assert status == f"http_{code}"
    assert body["results"] == []
    assert str(code) in stderr


def test_searxng_unreadable_reply(searx_sandbox: Sandbox, fake: FakeSearxng) -> None:
    fake.behaviour = "garbage"
    status, body, _ = search(searx_sandbox, "anything")
    assert status == "read_error"
    assert body["provider"] == "searxng"


def test_searxng_hang_up_is_a_network_error(searx_sandbox: Sandbox, fake: FakeSearxng) -> None:
    fake.behaviour = "hang_up"
    status, _, stderr = search(searx_sandbox, "anything")
    assert status == "network_error"
    assert stderr


def test_searxng_unreachable_is_a_network_error(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with running_sandbox(
        tmp_path_factory.mktemp("searx-down"),
        WEB_SEARCH_PROVIDER="searxng",
        SEARXNG_URL=f"http://127.0.0.1:{free_port()}",
    ) as service:
        status, body, stderr = search(service, "anything")
    assert status == "network_error"
    assert "ConnectError" in stderr
    assert body["results"] == []


HUGE_QUERY = "é" + "q" * 1_000_000  # the first character needs two bytes in UTF-8


def assert_clipped(body: dict[str, Any]) -> None:
    assert body["query"] == HUGE_QUERY[:MAX_QUERY_CHARS]
    assert body["query_truncated"] is True
    assert body["query_limit_chars"] == MAX_QUERY_CHARS
    results = body["results"]
    assert isinstance(results, list) and results
    for hit in results:
        assert len(hit["title"]) <= MAX_TITLE_CHARS
        assert len(hit["url"]) <= MAX_URL_CHARS
        assert len(hit["snippet"]) <= MAX_SNIPPET_CHARS


def test_a_huge_query_is_clipped_with_the_mock(sandbox: Sandbox) -> None:
    reply = sandbox.tool("web_search", {"query": HUGE_QUERY})
    assert reply.status == "ok"
    assert len(reply.stdout.encode()) < 32 * 1024
    assert_clipped(json.loads(reply.stdout))


def test_a_huge_query_and_long_results_are_clipped_with_searxng(
    searx_sandbox: Sandbox, fake: FakeSearxng
) -> None:
    status, body, _ = search(searx_sandbox, HUGE_QUERY)
    assert status == "ok"
    assert fake.queries[-1] == HUGE_QUERY[:MAX_QUERY_CHARS]  # only the clipped query is sent
    assert_clipped(body)
    assert any(len(hit["title"]) == MAX_TITLE_CHARS for hit in body["results"])


def test_a_short_query_is_not_marked(sandbox: Sandbox) -> None:
    _, body, _ = search(sandbox, "short")
    assert "query_truncated" not in body
