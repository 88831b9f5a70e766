"""A recording HTTP server with a canned answer per route, each of which can be held (a
barrier, an event) before it is sent: the BFF's neighbours in its fan-out tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.support.loopback_http import LoopbackHttpServer


@dataclass
class CannedAnswer:
    status: int = 200
    body: Any = field(default_factory=dict)  # JSON-encoded unless it is bytes
    content_type: str = "application/json"
    hold: Callable[[], object] | None = None  # called before answering (a barrier, an event)

    def encoded(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class RecordingHttpServer(LoopbackHttpServer):
    """Answers `(method, path)` routes from `answers`; every request is recorded, known or not."""

    def __init__(self, answers: dict[tuple[str, str], CannedAnswer] | None = None) -> None:
        self.answers = dict(answers or {})
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        super().__init__(self._handler_class())

    def received(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]

    def _record(self, request: RecordedRequest) -> CannedAnswer:
        with self._lock:
            self.requests.append(request)
        answer = self.answers.get((request.method, request.path))
        return answer or CannedAnswer(404, {"error": f"no route {request.method} {request.path}"})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                answer = fake._record(
                    RecordedRequest(
                        self.command,
                        parts.path,
                        parts.query,
                        {k.lower(): v for k, v in self.headers.items()},
                        self.rfile.read(length) if length else b"",
                    )
                )
                if answer.hold is not None:
                    answer.hold()
                payload = answer.encoded()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the caller gave up waiting (a timeout test); nothing to deliver

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
