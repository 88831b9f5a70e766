"""A real HTTP server on 127.0.0.1 speaking SearXNG's JSON search API, for tests.

    with FakeSearxng() as fake:
        fake.base_url                 # point SEARXNG_URL here
        fake.behaviour = "ok" | "error" | "garbage" | "hang_up"
        fake.error_status = 500       # used by "error"
        fake.queries                  # every q= received, in order

GET /search?q=<text>&format=json answers {"query", "number_of_results", "results":
[{"title", "url", "content", "engine"}]} like SearXNG does; format other than json gets 403
(SearXNG's answer when the JSON format is not enabled).
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.support.loopback_http import LoopbackHttpServer


def searx_results(query: str) -> list[dict[str, Any]]:
    return [
        {
            "title": f"SearXNG hit {rank} for {query}",
            "url": f"https://searx.test/{rank}/{query.replace(' ', '-')}",
            "content": f"Snippet {rank} about {query}.",
            "engine": "fake",
            "score": 1.0 / rank,
        }
        for rank in (1, 2)
    ]


class FakeSearxng(LoopbackHttpServer):
    def __init__(self) -> None:
        self.behaviour = "ok"
        self.error_status = 500
        self.queries: list[str] = []
        super().__init__(self._handler())

    @property
    def base_url(self) -> str:
        return self.url

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path != "/search":
                    self._send(404, {"error": "not found"})
                    return
                fake.queries.append(params.get("q", ""))
                if params.get("format") != "json":
                    self._send(403, {"error": "format not enabled"})
                elif fake.behaviour == "error":
                    self._send(fake.error_status, {"error": "fake failure"})
                elif fake.behaviour == "garbage":
                    self._send_raw(200, b"<html>not json</html>", "text/html")
                elif fake.behaviour == "hang_up":
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.close()
                else:
                    query = params.get("q", "")
                    results = searx_results(query)
                    body = {"query": query, "number_of_results": len(results), "results": results}
                    self._send(200, body)

            def _send(self, status: int, body: Any) -> None:
                self._send_raw(status, json.dumps(body).encode(), "application/json")

            def _send_raw(self, status: int, payload: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
