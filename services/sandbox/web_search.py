"""web_search: a deterministic offline mock, or a SearXNG instance's JSON API."""

from __future__ import annotations

import hashlib
from typing import Any, Protocol
from urllib.parse import quote_plus

import httpx

from services.kit.json_limits import loads_bounded
from services.sandbox.errors import InvalidToolArgs
from services.sandbox.outcome import ToolOutcome


class SearchProvider(Protocol):
    name: str

    async def search(self, query: str, timeout: float) -> ToolOutcome: ...


def parse_query(args: dict[str, Any]) -> str:
    query = args.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InvalidToolArgs("web_search: 'query' must be a non-empty string")
    return query.strip()


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
        results = [
            {
                "title": f"Mock result {rank} for: {query}",
                "url": f"https://example.com/mock-search/{digest}/{rank}?q={quote_plus(query)}",
                "snippet": f"Canned text (mock provider, no network) about {query!r}, #{rank}.",
            }
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
            {
                "title": str(item.get("title", "")),
                "url": str(item.get("url", "")),
                "snippet": str(item.get("content", "")),
            }
            for item in body["results"][: self.max_results]
            if isinstance(item, dict)
        ]

    def _failure(self, status: str, query: str, message: str) -> ToolOutcome:
        payload = {**search_result(query, self.name, []), "error": message}
        return ToolOutcome.from_json(status, payload, message)
