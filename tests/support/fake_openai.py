"""A real HTTP server on 127.0.0.1 speaking OpenAI chat completions, for tests.

    with FakeOpenAI() as fake:
        fake.push(Reply.text('{"steps": ["a"]}'), Reply.error(429), Reply.text("ok", delay=3))
        fake.always("{...}")          # the reply once the queue is empty
        ... point a provider at fake.base_url ...
        fake.requests[-1].system_prompt, .user_prompt, .body["temperature"]

POST /v1/chat/completions (also /chat/completions) pops the next scripted reply, or sends
the default one. Every request is recorded, including those answered with an error.

A request with `"stream": true` is answered with server-sent events over chunked HTTP, the
way OpenAI streams: content in pieces of `Reply.piece_chars`, each tool call's arguments in
pieces too, a finish chunk, a usage chunk and `data: [DONE]`. `Reply.cut_after=n` drops the
connection after n events. `Reply.error(..., echo_key=True)` quotes the caller's
Authorization header in the error body and in every response header it can.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback_http import LoopbackHttpServer

COMPLETION_PATHS = ("/v1/chat/completions", "/chat/completions")
DEFAULT_CONTENT = '{"steps": ["Reply from the fake OpenAI server."]}'


@dataclass(frozen=True)
class Reply:
    """One scripted answer: chat content (status 200) or an HTTP error, after `delay` s."""

    content: str | None = None
    status: int = 200
    body: Any = None  # error body (JSON value or raw text); default: OpenAI error shape
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    gather: int = 0  # hold the answer until this many requests are in flight at once
    gate: threading.Event | None = field(default=None, compare=False)  # answer once set
    tool_calls: tuple[tuple[str, str], ...] = ()  # (name, arguments JSON text) per call
    usage: tuple[int, int] = (0, 0)  # prompt and completion tokens
    piece_chars: int = 4  # streamed deltas carry this many characters
    cut_after: int | None = None  # streamed: drop the connection after this many events
    echo_key: bool = False  # quote the caller's Authorization in the error body and headers
    before: Callable[[], object] | None = field(default=None, compare=False)  # run first

    @classmethod
    def text(
        cls,
        content: str,
        delay: float = 0.0,
        usage: tuple[int, int] = (0, 0),
        cut_after: int | None = None,
        gather: int = 0,
    ) -> Reply:
        return cls(content=content, delay=delay, usage=usage, cut_after=cut_after, gather=gather)

    @classmethod
    def tools(cls, *calls: tuple[str, str], usage: tuple[int, int] = (0, 0)) -> Reply:
        """A native tool-call answer (no content)."""
        return cls(content=None, tool_calls=calls, usage=usage)

    @classmethod
    def held(cls, content: str, gate: threading.Event) -> Reply:
        """Answered only once the test sets `gate` (or the server stops): a model call that
        stays in flight exactly as long as the test needs."""
        return cls(content=content, gate=gate)

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "",
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
        echo_key: bool = False,
    ) -> Reply:
        message = message or f"fake upstream error {status}"
        body = {"error": {"message": message, "type": "fake_error", "code": status}}
        return cls(status=status, body=body, delay=delay, headers=headers or {}, echo_key=echo_key)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received; header names are lower-cased."""

    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when it was not JSON
    client_port: int  # the same port on two requests means a reused (pooled) connection
    received_at: float = field(default_factory=time.monotonic)  # the fake's own clock

    def messages(self) -> list[dict[str, Any]]:
        if isinstance(self.body, dict) and isinstance(self.body.get("messages"), list):
            return list(self.body["messages"])
        return []

    @property
    def streamed(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("stream") is True

    def content_of(self, role: str) -> str:
        return "\n".join(
            str(m.get("content", "")) for m in self.messages() if m.get("role") == role
        )

    @property
    def system_prompt(self) -> str:
        return self.content_of("system")

    @property
    def user_prompt(self) -> str:
        return self.content_of("user")


class FakeOpenAI(LoopbackHttpServer):
    """Start with `start()` or `with`; `base_url` ends in /v1 like the real API."""

    def __init__(self, default: Reply | None = None) -> None:
        self._default = default or Reply.text(DEFAULT_CONTENT)
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._in_flight_changed = threading.Condition(self._lock)
        self._in_flight = 0
        self.peak_in_flight = 0  # most requests being answered at the same moment
        self.requests: list[RecordedRequest] = []
        super().__init__(_handler_for(self))

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def push(self, *replies: Reply) -> None:
        """Queue replies, answered in order before the default one."""
        with self._lock:
            self._queue.extend(replies)

    def always(self, content: str) -> None:
        """Answer every request (after the queue) with this chat content."""
        self.set_default(Reply.text(content))

    def set_default(self, reply: Reply) -> None:
        with self._lock:
            self._default = reply

    def reset(self) -> None:
        """Forget queued replies and recorded requests (the default reply stays)."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.peak_in_flight = self._in_flight

    def next_reply(self) -> Reply:
        with self._lock:
            return self._queue.popleft() if self._queue else self._default

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def enter(self) -> None:
        with self._in_flight_changed:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            self._in_flight_changed.notify_all()

    def leave(self) -> None:
        with self._in_flight_changed:
            self._in_flight -= 1

    def gather(self, count: int, hung_seconds: float = 60) -> None:
        """Block until `count` requests have been in flight together (answers anyway when
        that never happens, so a test sees peak_in_flight fall short instead of hanging)."""
        with self._in_flight_changed:
            # The peak, not the current count: the first released request may finish
            # before the others wake up.
            self._in_flight_changed.wait_for(lambda: self.peak_in_flight >= count, hung_seconds)

    def pause(self, seconds: float) -> None:
        """Sleep for a scripted delay, cut short when the server stops."""
        self._stopping.wait(seconds)

    def hold(self, gate: threading.Event) -> None:
        while not gate.wait(0.1) and not self._stopping.is_set():
            pass

    def stop(self) -> None:
        self._stopping.set()  # held and delayed answers end now
        super().stop()


def _handler_for(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class ChatCompletionsHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path not in COMPLETION_PATHS:
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            port = int(self.client_address[1])
            request = RecordedRequest(self.path, headers, _parse(raw), port)
            fake.record(request)
            fake.enter()
            try:
                self._answer(fake.next_reply(), request)
            finally:
                fake.leave()

        def _answer(self, reply: Reply, request: RecordedRequest) -> None:
            if reply.before is not None:  # e.g. break a service at exactly this moment
                reply.before()
            if reply.gather:
                fake.gather(reply.gather)
            if reply.delay:
                fake.pause(reply.delay)
            if reply.gate is not None:
                fake.hold(reply.gate)
            if reply.status != 200:
                self._send_error(reply, request.headers.get("authorization", ""))
            elif request.streamed:
                self._stream(_stream_events(reply, request.body), reply.cut_after)
            else:
                self._send(200, _completion(reply, request.body))

        def _send_error(self, reply: Reply, authorization: str) -> None:
            body, headers = reply.body, dict(reply.headers)
            if reply.echo_key:
                quoted = f"Incorrect API key provided: {authorization}"
                body = {"error": {"message": quoted, "type": "invalid_request_error"}}
                headers |= {"X-Echo-Authorization": authorization, "WWW-Authenticate": quoted}
            self._send(reply.status, body, headers)

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            payload = body if isinstance(body, str) else json.dumps(body)
            data = payload.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a deadline test); nothing to report

        def _stream(self, events: list[str], cut_after: int | None) -> None:
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for number, event in enumerate(events):
                    if cut_after is not None and number >= cut_after:
                        self.close_connection = True  # no closing chunk: a broken stream
                        return
                    data = f"data: {event}\n\n".encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return ChatCompletionsHandler


def _parse(raw: bytes) -> Any:
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _model(request: Any) -> str:
    return str(request.get("model", "fake-model")) if isinstance(request, dict) else "fake-model"


def _usage(reply: Reply) -> dict[str, int]:
    prompt, completion = reply.usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _wire_calls(reply: Reply) -> list[dict[str, Any]]:
    return [
        {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": args}}
        for i, (name, args) in enumerate(reply.tool_calls)
    ]


def _completion(reply: Reply, request: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = _wire_calls(reply)
    return {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": _model(request),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": _usage(reply),
    }


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), max(size, 1))]


def _stream_events(reply: Reply, request: Any) -> list[str]:
    """The SSE data payloads of a streamed answer, in order."""
    model = _model(request)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return json.dumps({"object": "chat.completion.chunk", "model": model, "choices": [choice]})

    events = [chunk({"role": "assistant", "content": ""})]
    events += [
        chunk({"content": piece}) for piece in _pieces(reply.content or "", reply.piece_chars)
    ]
    for index, call in enumerate(_wire_calls(reply)):
        head = {
            **call,
            "index": index,
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        events.append(chunk({"tool_calls": [head]}))
        for piece in _pieces(call["function"]["arguments"], reply.piece_chars):
            events.append(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            )
    events.append(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
    events.append(
        json.dumps(
            {
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [],
                "usage": _usage(reply),
            }
        )
    )
    events.append("[DONE]")
    return events
