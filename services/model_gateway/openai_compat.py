"""One attempt at an OpenAI-compatible chat completion (OpenRouter, Ollama, OpenAI, vLLM, ...),
as one JSON body or as an SSE stream. Retries and fallbacks belong to chain.py alone: this
client never retries, and the HTTP library under it has no retry of its own.

One pooled aiohttp session per process (it costs a fraction of httpx's CPU per call),
without a cookie jar (provider APIs authenticate by key; nothing is carried from one call
to the next), request bodies encoded by orjson (the system prompt with the tool catalogue
makes them a few kilobytes, several times faster than json.dumps).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDictProxy
from yarl import URL

from services.kit.json_limits import loads_bounded
from services.model_gateway.chain_config import ProviderConfig
from services.model_gateway.completion import Completion, StreamAssembler, parse_completion
from services.model_gateway.errors import UpstreamRejected, UpstreamUnavailable

TEMPERATURE = 0.2
MAX_ERROR_CHARS = 500
MAX_REPLY_BYTES = 1024 * 1024
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})
NO_TIMEOUT = aiohttp.ClientTimeout()
DeltaSink = Callable[[str], None]


def new_http_session() -> aiohttp.ClientSession:
    """The process's pooled HTTP session for provider calls (the chain times each call)."""
    connector = aiohttp.TCPConnector(limit=128, keepalive_timeout=60)
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        json_serialize_bytes=orjson.dumps,
    )


class ChatCompletionsClient:
    def __init__(self, config: ProviderConfig, http: aiohttp.ClientSession) -> None:
        self.config = config
        self._http = http
        self._url = URL(f"{config.base_url}/chat/completions")  # parsed once
        self._unreachable = f"cannot reach {config.name} at {self._url}"
        self._headers = {"Content-Type": "application/json"}
        if config.api_key:
            self._headers["Authorization"] = f"Bearer {config.api_key}"

    @property
    def usable(self) -> bool:
        """Whether calls can be made (the shared HTTP session is open)."""
        return not self._http.closed

    async def complete(self, messages: list[dict[str, str]]) -> Completion:
        """One non-streaming call; raises UpstreamUnavailable or UpstreamRejected."""
        body = self._body(messages)
        async with self._post(body) as response:
            raw = await _read_limited(response, self.config.name)
            self._check_status(response, raw)
        try:
            parsed = loads_bounded(raw)
        except ValueError:
            raise UpstreamUnavailable(
                f"{self.config.name} sent a reply that is not JSON: {_text(raw)}"
            ) from None
        return parse_completion(parsed, self.config.name)

    async def stream(self, messages: list[dict[str, str]], on_delta: DeltaSink) -> Completion:
        """One streaming call; content deltas go to on_delta as they arrive. A stream that
        ends before the provider said it was finished raises UpstreamUnavailable."""
        body = {**self._body(messages), "stream": True, "stream_options": {"include_usage": True}}
        assembler = StreamAssembler(self.config.name)
        async with self._post(body) as response:
            if response.status != 200:
                self._check_status(response, await _read_limited(response, self.config.name))
            done = False
            async for data in _sse_data(response, self.config.name):
                if data == "[DONE]":
                    done = True
                    break
                delta = assembler.add(_chunk(data, self.config.name))
                if delta:
                    on_delta(delta)
        if not (done or assembler.finished):
            raise UpstreamUnavailable(f"{self.config.name} ended the stream before the answer")
        return assembler.completion()

    def _body(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        return {"model": self.config.model, "messages": messages, "temperature": TEMPERATURE}

    def _post(self, body: dict[str, Any]) -> Any:
        return _translating(
            self._http.post(
                self._url,
                json=body,
                headers=self._headers,
                # The chain's asyncio.timeout bounds the attempt; a second timer per call
                # here would only back it up.
                timeout=NO_TIMEOUT,
            ),
            self._unreachable,
        )

    def _check_status(self, response: aiohttp.ClientResponse, raw: bytes) -> None:
        if response.status == 200:
            return
        message = f"{self.config.name} answered HTTP {response.status}: {upstream_message(raw)}"
        if response.status in RETRYABLE_STATUSES or response.status >= 500:
            raise UpstreamUnavailable(message, retry_after_seconds(response.headers))
        raise UpstreamRejected(response.status, message)


class _translating:
    """The request's context manager, with aiohttp's connection errors as UpstreamUnavailable
    (timeouts stay TimeoutError: the chain tells an attempt's timeout from its deadline)."""

    def __init__(self, request: Any, what: str) -> None:
        self._request = request
        self._what = what

    async def __aenter__(self) -> aiohttp.ClientResponse:
        try:
            return await self._request.__aenter__()
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"{self._what}: {_reason(exc)}") from None

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._request.__aexit__(*exc_info)


async def _read_limited(response: aiohttp.ClientResponse, provider: str) -> bytes:
    raw = bytearray()
    try:
        async for piece in response.content.iter_chunked(64 * 1024):
            raw.extend(piece)
            if len(raw) > MAX_REPLY_BYTES:
                raise UpstreamUnavailable(
                    f"{provider} sent a reply larger than {MAX_REPLY_BYTES} bytes"
                )
    except aiohttp.ClientError as exc:
        raise UpstreamUnavailable(f"{provider} broke off its reply: {_reason(exc)}") from None
    return bytes(raw)


async def _sse_data(response: aiohttp.ClientResponse, provider: str) -> AsyncIterator[str]:
    """The `data` of each server-sent event (multi-line data joined; comments skipped)."""
    lines: list[str] = []
    received = 0
    try:
        async for raw_line in response.content:
            received += len(raw_line)
            if received > MAX_REPLY_BYTES:
                raise UpstreamUnavailable(
                    f"{provider} sent a stream larger than {MAX_REPLY_BYTES} bytes"
                )
            line = raw_line.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line:
                if lines:
                    yield "\n".join(lines)
                    lines = []
            elif line.startswith("data:"):
                lines.append(line[5:].removeprefix(" "))
    except (aiohttp.ClientError, ValueError) as exc:
        raise UpstreamUnavailable(f"{provider} broke off its stream: {_reason(exc)}") from None
    if lines:
        yield "\n".join(lines)


def _chunk(data: str, provider: str) -> Any:
    try:
        return loads_bounded(data)
    except ValueError:
        raise UpstreamUnavailable(f"{provider} sent a stream event that is not JSON") from None


def upstream_message(raw: bytes) -> str:
    """The provider's own error message (OpenAI error shape), else the start of the body."""
    try:
        body = loads_bounded(raw)
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error", body.get("message"))
        if isinstance(error, dict):
            error = error.get("message", json.dumps(error))
        if isinstance(error, str) and error.strip():
            return error.strip()[:MAX_ERROR_CHARS]
    return _text(raw) or "(empty body)"


def retry_after_seconds(headers: CIMultiDictProxy[str]) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date."""
    raw = headers.get("Retry-After", "").strip()
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").strip()[:MAX_ERROR_CHARS]


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
