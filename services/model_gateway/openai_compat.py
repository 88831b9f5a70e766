"""Client for OpenAI-compatible chat completions (OpenRouter, Ollama, OpenAI, vLLM, ...).

One instance per process shares one pooled httpx.AsyncClient. Calls retry with exponential
backoff on 429, 5xx and connection errors, but never past the caller's deadline.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from services.kit.logs import get_logger
from services.model_gateway.errors import UpstreamRejected, UpstreamUnavailable
from services.model_gateway.settings import ProviderConfig

log = get_logger("openai_compat")
TEMPERATURE = 0.2
MAX_ATTEMPTS = 4
FIRST_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 2.0
MAX_ERROR_CHARS = 500


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

    async def complete(self, messages: list[dict[str, str]], deadline: float) -> str:
        """The assistant's reply text; `deadline` is in event-loop time.

        Raises UpstreamUnavailable, UpstreamRejected, or TimeoutError past the deadline.
        """
        body = {"model": self.config.model, "messages": messages, "temperature": TEMPERATURE}
        loop = asyncio.get_running_loop()
        attempt = 1
        while True:
            try:
                return await self._post_once(body, deadline - loop.time())
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
            response = await self._http.post(
                self._url, json=body, headers=self._headers, timeout=remaining
            )
        except httpx.TimeoutException:
            raise TimeoutError from None
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            error = UpstreamUnavailable(f"cannot reach {self._name} at {self._url}: {reason}")
            raise _Retryable(error, None) from None
        if response.status_code == 200:
            return self._content(response)
        message = f"{self._name} answered HTTP {response.status_code}: {upstream_message(response)}"
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(UpstreamUnavailable(message), _retry_after(response))
        raise UpstreamRejected(response.status_code, message)

    @property
    def _name(self) -> str:
        return self.config.name

    def _content(self, response: httpx.Response) -> str:
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            content = None
        if not isinstance(content, str) or not content.strip():
            raise UpstreamUnavailable(
                f"{self._name} sent a reply without choices[0].message.content text: "
                f"{response.text[:MAX_ERROR_CHARS]}"
            )
        return content


def upstream_message(response: httpx.Response) -> str:
    """The provider's own error message (OpenAI error shape), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error", body.get("message"))
        if isinstance(error, dict):
            error = error.get("message", json.dumps(error))
        if isinstance(error, str) and error.strip():
            return error.strip()[:MAX_ERROR_CHARS]
    return response.text.strip()[:MAX_ERROR_CHARS] or response.reason_phrase


def _backoff(attempt: int) -> float:
    return float(min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1)))


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after", "").strip()
    try:
        seconds = float(raw)
    except ValueError:
        return None
    return min(max(seconds, 0.0), MAX_BACKOFF_SECONDS * 4)
