"""Client for OpenAI-compatible chat completions (OpenRouter, Ollama, OpenAI, vLLM, ...).

One instance per process shares one pooled httpx.AsyncClient. Calls retry with exponential
backoff on 429, 5xx and connection errors, but never past the caller's deadline.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from services.kit.json_limits import loads_bounded
from services.kit.logs import get_logger
from services.model_gateway.errors import UpstreamRejected, UpstreamUnavailable
from services.model_gateway.settings import ProviderConfig

log = get_logger("openai_compat")
TEMPERATURE = 0.2
MAX_ATTEMPTS = 4
FIRST_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 2.0
MAX_ERROR_CHARS = 500
MAX_REPLY_BYTES = 1024 * 1024


def new_http_client() -> httpx.AsyncClient:
    """The process's pooled HTTP client for provider calls (timeouts are set per call)."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30.0))


class _Retryable(Exception):
    def __init__(self, error: UpstreamUnavailable, retry_after: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class ChatCompletionsClient:
    def __init__(self, config: ProviderConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self._http = http
        self._url = f"{config.base_url}/chat/completions"
        self._headers = {"Content-Type": "application/json"}
        if config.api_key:
            self._headers["Authorization"] = f"Bearer {config.api_key}"

    @property
    def usable(self) -> bool:
        """Whether calls can be made (the shared HTTP client is open)."""
        return not self._http.is_closed

    async def complete(self, messages: list[dict[str, str]], deadline: float) -> str:
        """The assistant's reply text; `deadline` is in event-loop time.

        Raises UpstreamUnavailable, UpstreamRejected, or TimeoutError past the deadline.
        """
        body = {"model": self.config.model, "messages": messages, "temperature": TEMPERATURE}
        loop = asyncio.get_running_loop()
        started = loop.time()
        attempt = 1
        while True:
            try:
                reply = await self._post_once(body, deadline - loop.time())
                latency_ms = round((loop.time() - started) * 1000)
                log.info(
                    "provider_reply", attempts=attempt, latency_ms=latency_ms, chars=len(reply)
                )
                return reply
            except _Retryable as failure:
                delay = failure.retry_after
                if delay is None:
                    delay = _backoff(attempt)
                if attempt >= MAX_ATTEMPTS or loop.time() + delay >= deadline:
                    raise failure.error from None
                log.warning("provider_retry", attempt=attempt, delay_s=delay, error=str(failure))
            await asyncio.sleep(delay)
            attempt += 1

    async def _post_once(self, body: dict[str, Any], remaining: float) -> str:
        if remaining <= 0:
            raise TimeoutError
        try:
            status, headers, raw = await self._exchange(body, remaining)
        except httpx.TimeoutException:
            raise TimeoutError from None
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            error = UpstreamUnavailable(f"cannot reach {self._name} at {self._url}: {reason}")
            raise _Retryable(error, None) from None
        if status == 200:
            return self._content(raw)
        message = f"{self._name} answered HTTP {status}: {upstream_message(raw)}"
        if status == 429 or status >= 500:
            raise _Retryable(UpstreamUnavailable(message), _retry_after(headers))
        raise UpstreamRejected(status, message)

    async def _exchange(
        self, body: dict[str, Any], remaining: float
    ) -> tuple[int, httpx.Headers, bytes]:
        """POST and read the reply body, refusing one larger than MAX_REPLY_BYTES."""
        request = self._http.stream(
            "POST", self._url, json=body, headers=self._headers, timeout=remaining
        )
        async with request as response:
            raw = bytearray()
            async for chunk in response.aiter_bytes():
                raw.extend(chunk)
                if len(raw) > MAX_REPLY_BYTES:
                    raise UpstreamUnavailable(
                        f"{self._name} sent a reply larger than {MAX_REPLY_BYTES} bytes"
                    )
            return response.status_code, response.headers, bytes(raw)

    @property
    def _name(self) -> str:
        return self.config.name

    def _content(self, raw: bytes) -> str:
        try:
            content = loads_bounded(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            content = None
        if not isinstance(content, str) or not content.strip():
            raise UpstreamUnavailable(
                f"{self._name} sent a reply without choices[0].message.content text: {_text(raw)}"
            )
        return content


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


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").strip()[:MAX_ERROR_CHARS]


def _backoff(attempt: int) -> float:
    return float(min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1)))


def _retry_after(headers: httpx.Headers) -> float | None:
    raw = headers.get("retry-after", "").strip()
    try:
        seconds = float(raw)
    except ValueError:
        return None
    return min(max(seconds, 0.0), MAX_BACKOFF_SECONDS * 4)
