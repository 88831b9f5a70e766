"""Loopback stand-ins for legacy-stack neighbours when a test must control them: a recording
HTTP server with canned answers and a delay per route, and a scripted gRPC gateway."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import grpc

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc


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


class FakeHttpServer:
    """Answers `(method, path)` routes from `answers`; every request is recorded, known or not."""

    def __init__(self, answers: dict[tuple[str, str], CannedAnswer] | None = None) -> None:
        self.answers = dict(answers or {})
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

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


class ScriptedGateway(pb_grpc.ModelGatewayServicer):
    """A gateway that answers GetPlan from a script, for plan shapes the project's own gateway
    never produces (such as an OpenAI-style `tool_call`). Prompts are recorded.

    `reply(prompt)` gives the plan text; the default asks for `tool_plan` until the prompt
    carries a `<tool_result>`, then answers `final_plan`.
    """

    def __init__(self, tool_plan: dict[str, Any], final_plan: dict[str, Any]) -> None:
        self.tool_plan = tool_plan
        self.final_plan = final_plan
        self.always_tool = False
        self.delay_seconds = 0.0
        self.prompts: list[str] = []
        self._server = grpc.server(ThreadPoolExecutor(4))
        pb_grpc.add_ModelGatewayServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    def start(self) -> ScriptedGateway:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)

    def GetPlan(self, request: pb.PlanRequest, context: grpc.ServicerContext) -> pb.PlanResponse:
        self.prompts.append(request.prompt)
        time.sleep(self.delay_seconds)
        final = "<tool_result>" in request.prompt and not self.always_tool
        plan = self.final_plan if final else self.tool_plan
        return pb.PlanResponse(plan=json.dumps(plan), model_name="scripted", latency_ms=1)
