"""A real HTTP reverse proxy on 127.0.0.1 that can hold chosen requests until released.

    with HoldingProxy("http://127.0.0.1:8000", hold=lambda path: path.endswith("/upsert")) as p:
        ... point a client at p.port; matching requests wait ...
        p.wait_for_held()      # one has arrived and is being held
        p.release()            # it and every later one go through

Used to keep a Chroma server's writes waiting (so start-up ingestion stays unfinished for
as long as a test needs) while its heartbeat and reads still answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import httpx

from tests.support.loopback_http import LoopbackHttpServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class HoldingProxy(LoopbackHttpServer):
    def __init__(self, upstream: str, hold: Callable[[str], bool]) -> None:
        self.upstream = upstream.rstrip("/")
        self.hold = hold
        self.held = threading.Event()  # a matching request has arrived
        self.released = threading.Event()
        self._client = httpx.Client(timeout=120)
        super().__init__(_handler_for(self))

    def wait_for_held(self, timeout: float = 60) -> None:
        if not self.held.wait(timeout):
            raise TimeoutError(f"no request to hold arrived within {timeout}s")

    def release(self) -> None:
        self.released.set()

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> httpx.Response:
        if self.hold(path):
            self.held.set()
            self.released.wait(300)
        return self._client.request(method, f"{self.upstream}{path}", headers=headers, content=body)

    def stop(self) -> None:
        self.release()
        super().stop()
        self._client.close()


def _handler_for(proxy: HoldingProxy) -> type[BaseHTTPRequestHandler]:
    class ProxyHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            try:
                reply = proxy.forward(self.command, self.path, headers, body)
            except httpx.HTTPError as exc:
                self.send_error(502, f"upstream: {exc}")
                return
            self.send_response(reply.status_code)
            for name, value in reply.headers.items():
                if name.lower() not in HOP_BY_HOP | {"content-encoding"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.content)))
            self.end_headers()
            self.wfile.write(reply.content)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _relay

        def log_message(self, format: str, *args: object) -> None:
            pass

    return ProxyHandler
