"""HTTP calls between legacy-stack services, shared by the BFF and the demo agent: they carry
X-Request-Id (and X-Trace-ID), are bounded in total time and response size, and every
failure becomes a DownstreamFailure with a short reason."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from services.kit.json_limits import loads_bounded
from services.kit.request_ids import REQUEST_ID_HEADER
from services.kit.trace import trace_headers

MAX_RESPONSE_BYTES = 1024 * 1024
ERROR_EXCERPT_CHARS = 200


class DownstreamFailure(Exception):
    """A call failed (unreachable, too slow, error status, oversized); the message says why."""

    def __init__(self, reason: str, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.status_code = status_code


async def request_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    request_id: str,
    timeout: float,
    json_body: Any = None,
    params: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """(status, payload): the body decoded as JSON, or as text when it is not JSON."""
    try:
        async with asyncio.timeout(timeout):
            return await _exchange(client, method, url, request_id, timeout, json_body, params)
    except (TimeoutError, httpx.TimeoutException):
        raise DownstreamFailure(f"timed out after {timeout:g}s") from None
    except httpx.ConnectError as exc:
        raise DownstreamFailure(f"connection failed: {_describe(exc)}") from None
    except httpx.HTTPError as exc:
        raise DownstreamFailure(f"request failed: {_describe(exc)}") from None


async def _exchange(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    request_id: str,
    timeout: float,
    json_body: Any,
    params: dict[str, str] | None,
) -> tuple[int, Any]:
    headers = {REQUEST_ID_HEADER: request_id, **trace_headers()}
    async with client.stream(
        method, url, json=json_body, params=params, headers=headers, timeout=timeout
    ) as response:
        body = await _read_limited(response)
    text = body.decode(response.encoding or "utf-8", errors="replace")
    if not response.is_success:
        excerpt = text[:ERROR_EXCERPT_CHARS].strip() or response.reason_phrase
        raise DownstreamFailure(f"HTTP {response.status_code}: {excerpt}", response.status_code)
    return response.status_code, decode_payload(text)


async def _read_limited(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise DownstreamFailure(
                f"response larger than {MAX_RESPONSE_BYTES} bytes", response.status_code
            )
        chunks.append(chunk)
    return b"".join(chunks)


def decode_payload(text: str) -> Any:
    """JSON when the body is JSON; otherwise the body is passed through as a string."""
    try:
        return loads_bounded(text)
    except ValueError:
        return text


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
