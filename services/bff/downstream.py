"""The dashboard's fan-out: three downstream calls run at once on one shared client, each
bounded by the request timeout; a failure becomes a `{"error","status":"failed"}` section."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.bff.request_ids import REQUEST_ID_HEADER
from services.bff.settings import BffSettings
from services.kit.logs import get_logger
from services.kit.trace import TRACE_ID_HEADER, current_trace_id

log = get_logger("bff.downstream")
MAX_SECTION_BYTES = 1024 * 1024
ERROR_EXCERPT_CHARS = 200


@dataclass(frozen=True)
class DownstreamCall:
    """One dashboard section: where it comes from and what is sent."""

    section: str
    method: str
    url: str
    json_body: dict[str, Any] | None = field(default=None)


class DownstreamFailure(Exception):
    """A downstream answered, but not with something the dashboard can use."""

    def __init__(self, reason: str, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.status_code = status_code


def dashboard_calls(settings: BffSettings) -> tuple[DownstreamCall, ...]:
    return (
        DownstreamCall("python_agent", "POST", f"{settings.PY_AGENT_URL}/api/v1/plan", {}),
        DownstreamCall(
            "rust_sandbox",
            "POST",
            f"{settings.RUST_SANDBOX_URL}/api/v1/execute_tool",
            {"tool_name": "demo"},
        ),
        DownstreamCall("memory", "GET", f"{settings.MEMORY_URL}/memory/latest"),
    )


async def gather_dashboard(
    client: httpx.AsyncClient,
    calls: tuple[DownstreamCall, ...],
    request_id: str,
    timeout: float,
) -> dict[str, Any]:
    """Every section at once; the total time is that of the slowest call, not the sum."""
    results = await asyncio.gather(
        *(fetch_section(client, call, request_id, timeout) for call in calls)
    )
    return {call.section: result for call, result in zip(calls, results, strict=True)}


async def fetch_section(
    client: httpx.AsyncClient, call: DownstreamCall, request_id: str, timeout: float
) -> Any:
    """The downstream's JSON (or text) payload, or a failed-section record; never raises."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            status_code, payload = await _request(client, call, request_id, timeout)
    except (TimeoutError, httpx.TimeoutException):
        return _failed(call, started, None, f"timed out after {timeout:g}s")
    except httpx.ConnectError as exc:
        return _failed(call, started, None, f"connection failed: {_describe(exc)}")
    except httpx.HTTPError as exc:
        return _failed(call, started, None, f"request failed: {_describe(exc)}")
    except DownstreamFailure as exc:
        return _failed(call, started, exc.status_code, str(exc))
    _log_call(call, started, status_code, "ok")
    return payload


async def _request(
    client: httpx.AsyncClient, call: DownstreamCall, request_id: str, timeout: float
) -> tuple[int, Any]:
    headers = {REQUEST_ID_HEADER: request_id}
    trace_id = current_trace_id()
    if trace_id:
        headers[TRACE_ID_HEADER] = trace_id
    async with client.stream(
        call.method, call.url, json=call.json_body, headers=headers, timeout=timeout
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
        if size > MAX_SECTION_BYTES:
            raise DownstreamFailure(
                f"response larger than {MAX_SECTION_BYTES} bytes", response.status_code
            )
        chunks.append(chunk)
    return b"".join(chunks)


def decode_payload(text: str) -> Any:
    """JSON when the body is JSON; otherwise the body is passed through as a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _failed(
    call: DownstreamCall, started: float, status_code: int | None, reason: str
) -> dict[str, str]:
    _log_call(call, started, status_code, "failed", reason)
    return {"error": reason, "status": "failed"}


def _log_call(
    call: DownstreamCall,
    started: float,
    status_code: int | None,
    outcome: str,
    error: str | None = None,
) -> None:
    fields: dict[str, Any] = {
        "section": call.section,
        "method": call.method,
        "url": call.url,
        "status": status_code,
        "outcome": outcome,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    if error is not None:
        fields["error"] = error
        log.warning("downstream_call", **fields)
    else:
        log.info("downstream_call", **fields)
