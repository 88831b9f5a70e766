"""A keep-alive HTTP/1.1 client for JSON calls from one of our services to another (the
planner's session-history calls to memory).

Every /plan ends with such a call, made by a process that sat idle while the model
answered, and on the 2-core bench machine code run just after an idle spell runs several times
slower than the same code run back to back. There aiohttp's client took about 0.5 ms from
the call to the request's first byte, and 0.3 ms more to read the reply. This client writes
one prepared buffer to a kept connection and parses the reply with httptools (the parser
uvicorn serves with). Swapping one for the other in the same running stack, round by
round, cut /plan's time over its floor from 3.45 to 2.56 ms (and 3.54 to 3.18 ms in a second
run). It does what those calls need and no more: one base URL (http or https), default
headers, a total timeout per call, a bounded pool of kept connections, a bounded reply,
and the reply's status and bytes (the caller decodes them)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

import httptools
import orjson

IDLE_SECONDS = 2.0  # a kept connection idle longer is closed, not reused (servers drop them)
MAX_CONNECTIONS = 64


class HttpCallFailed(Exception):
    """The exchange broke: the connection closed early, or the reply was malformed or over
    the size limit. (Refused connections raise OSError, and slow calls TimeoutError.)"""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes


class ServiceHttpClient:
    """Calls to one service at `base_url` (its path, if any, prefixes every call's path)."""

    def __init__(
        self,
        base_url: str,
        timeout_seconds: float,
        headers: Mapping[str, str] | None = None,
        max_reply_bytes: int = 64 * 1024 * 1024,
        max_connections: int = MAX_CONNECTIONS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s) URL, got {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = (
            (ssl_context or ssl.create_default_context()) if parts.scheme == "https" else None
        )
        self.prefix = parts.path.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.max_reply_bytes = max_reply_bytes
        self._fixed = f"Host: {parts.netloc}\r\n{_header_lines(headers or {})}"
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(max_connections)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """One exchange, within the client's timeout (TimeoutError past it)."""
        target = self.prefix + path + (f"?{urlencode(params)}" if params else "")
        body = b"" if json is None else orjson.dumps(json)
        content = "Content-Type: application/json\r\n" if json is not None else ""
        message = (
            f"{method} {target} HTTP/1.1\r\n{self._fixed}{_header_lines(headers or {})}"
            f"{content}Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        async with asyncio.timeout(self.timeout_seconds), self._slots:
            connection = self._kept()
            if connection is not None:
                try:
                    return await self._exchange(connection, message)
                except HttpCallFailed:
                    # The server may have closed the kept connection as the request went
                    # out. Only a request it cannot have seen is sent again: none of a
                    # reply came back, and it was a read.
                    if connection.replied or method != "GET":
                        raise
            return await self._exchange(await self._connect(), message)

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    async def _exchange(self, connection: _Connection, message: bytes) -> Reply:
        try:
            reply = await connection.exchange(message)
        except BaseException:  # a failed or cancelled exchange leaves it in an unknown state
            connection.close()
            raise
        if connection.reusable:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        return reply

    def _kept(self) -> _Connection | None:
        """The most recently used kept connection that is still open and fresh."""
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.open and now - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            lambda: _Connection(self.max_reply_bytes),
            self.host,
            self.port,
            ssl=self.ssl,
            server_hostname=self.host if self.ssl else None,
        )
        return connection


def _header_lines(headers: Mapping[str, str]) -> str:
    lines = []
    for name, value in headers.items():
        if any(c in f"{name}{value}" for c in "\r\n") or not name or ":" in name:
            raise ValueError(f"header {name!r}: names and values cannot hold line breaks")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines)


class _Connection(asyncio.Protocol):
    """One connection, one exchange at a time; httptools calls the on_* methods."""

    def __init__(self, max_reply_bytes: int) -> None:
        self.max_reply_bytes = max_reply_bytes
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.reusable = False
        self.replied = False  # a byte of the current reply has arrived
        self.idle_since = 0.0
        self._waiter: asyncio.Future[Reply] | None = None
        self._chunks: list[bytes] = []
        self._size = 0

    async def exchange(self, message: bytes) -> Reply:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.replied = self.reusable = False
        self.transport.write(message)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.open = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        why = f": {exc}" if exc else ""
        self._fail(HttpCallFailed(f"connection closed before the reply was complete{why}"))

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # nothing was asked: the connection cannot be trusted
            self.close()
            return
        self.replied = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpCallFailed(f"malformed reply: {exc}"))
            self.close()

    def on_message_begin(self) -> None:
        self._chunks = []
        self._size = 0

    def on_body(self, chunk: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            return
        self._size += len(chunk)
        if self._size > self.max_reply_bytes:
            self._fail(HttpCallFailed(f"reply larger than {self.max_reply_bytes} bytes"))
            self.close()
            return
        self._chunks.append(chunk)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        self.reusable = self.open and self.parser.should_keep_alive()
        waiter.set_result(Reply(self.parser.get_status_code(), b"".join(self._chunks)))
        self._chunks = []

    def _fail(self, error: HttpCallFailed) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)
