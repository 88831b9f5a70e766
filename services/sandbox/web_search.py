"""web_search: a deterministic offline mock, or a SearXNG instance's JSON API. Whatever the
provider, the query and every result field are clipped to fixed sizes, so one answer stays
a few tens of kilobytes however long the query a model sends."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol
from urllib.parse import quote_plus

import httpx

from services.kit.json_limits import loads_bounded
from services.sandbox.errors import InvalidToolArgs
from services.sandbox.outcome import ToolOutcome

MAX_QUERY_CHARS = 512
MAX_TITLE_CHARS = 300
MAX_URL_CHARS = 2048
MAX_SNIPPET_CHARS = 1000
MOCK_URL_QUERY_CHARS = 100


class SearchProvider(Protocol):
    name: str

    async def search(self, query: str, timeout: float) -> ToolOutcome: ...


def parse_query(args: dict[str, Any]) -> str:
    query = args.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InvalidToolArgs("web_search: 'query' must be a non-empty string")
    return query.strip()


def clip_query(query: str) -> tuple[str, bool]:
    """The query as searched: at most MAX_QUERY_CHARS; True when it was cut."""
    return query[:MAX_QUERY_CHARS], len(query) > MAX_QUERY_CHARS


def clipped_hit(title: str, url: str, snippet: str) -> dict[str, str]:
    return {
        "title": title[:MAX_TITLE_CHARS],
        "url": url[:MAX_URL_CHARS],
        "snippet": snippet[:MAX_SNIPPET_CHARS],
    }


def search_result(query: str, provider: str, results: list[dict[str, str]]) -> dict[str, Any]:
    return {"query": query, "results": results, "provider": provider}


class MockSearch:
    """Offline and deterministic: the same query always gives the same made-up results,
    on example.com addresses, so nobody mistakes them for real ones."""

    name = "mock"

    def __init__(self, max_results: int) -> None:
        self.max_results = min(max_results, 3)

    async def search(self, query: str, timeout: float) -> ToolOutcome:
        digest = hashlib.sha256(query.encode()).hexdigest()[:8]
        in_url = quote_plus(query[:MOCK_URL_QUERY_CHARS])
        results = [
            clipped_hit(
                f"Mock result {rank} for: {query}",
                f"https://example.com/mock-search/{digest}/{rank}?q={in_url}",
                f"Canned text (mock provider, no network) about {query!r}, #{rank}.",
            )
            for rank in range(1, self.max_results + 1)
        ]
        return ToolOutcome.from_json("ok", search_result(query, self.name, results))


class SearxngSearch:
    """GET {base}/search?q=...&format=json through one shared AsyncClient."""

    name = "searxng"

    def __init__(self, client: httpx.AsyncClient, base_url: str, max_results: int) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.max_results = max_results

    async def search(self, query: str, timeout: float) -> ToolOutcome:
        url = f"{self.base_url}/search"
        try:
            reply = await self.client.get(
                url, params={"q": query, "format": "json"}, timeout=timeout
            )
        except httpx.HTTPError as exc:
            return self._failure("network_error", query, f"{type(exc).__name__}: {exc}")
        if reply.status_code != 200:
            return self._failure(
                f"http_{reply.status_code}", query, f"SearXNG answered {reply.status_code}"
            )
        try:
            results = self._results(loads_bounded(reply.content))
        except (ValueError, TypeError, KeyError) as exc:
            return self._failure("read_error", query, f"unreadable SearXNG reply: {exc}")
        return ToolOutcome.from_json("ok", search_result(query, self.name, results))

    def _results(self, body: Any) -> list[dict[str, str]]:
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise ValueError("expected an object with a 'results' list")
        return [
            clipped_hit(
                str(item.get("title", "")), str(item.get("url", "")), str(item.get("content", ""))
            )
            for item in body["results"][: self.max_results]
            if isinstance(item, dict)
        ]

    def _failure(self, status: str, query: str, message: str) -> ToolOutcome:
        payload = {**search_result(query, self.name, []), "error": message}
        return ToolOutcome.from_json(status, payload, message)


def mark_clipped_query(outcome: ToolOutcome) -> ToolOutcome:
    """Say in the answer that the query was cut to MAX_QUERY_CHARS before searching."""
    payload = json.loads(outcome.stdout)
    payload["query_truncated"] = True
    payload["query_limit_chars"] = MAX_QUERY_CHARS
    return ToolOutcome.from_json(outcome.status, payload, outcome.stderr)
