"""The dashboard's fan-out: three downstream calls run at once on one shared client, each
bounded by the request timeout; a failure becomes a `{"error","status":"failed"}` section."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from services.bff.settings import BffSettings
from services.kit.logs import get_logger
from services.kit.outbound import DownstreamFailure, request_json

log = get_logger("bff.downstream")


@dataclass(frozen=True)
class DownstreamCall:
    """One dashboard section: where it comes from and what is sent."""

    section: str
    method: str
    url: str
    json_body: dict[str, Any] | None = None


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
        status_code, payload = await request_json(
            client, call.method, call.url, request_id, timeout, call.json_body
        )
    except DownstreamFailure as exc:
        _log_call(call, started, exc.status_code, "failed", str(exc))
        return {"error": str(exc), "status": "failed"}
    _log_call(call, started, status_code, "ok")
    return payload


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
    if error is None:
        log.info("downstream_call", **fields)
    else:
        log.warning("downstream_call", error=error, **fields)
