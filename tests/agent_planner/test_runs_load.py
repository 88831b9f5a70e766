"""50 runs started and streamed at once on the shared stack: every stream complete, no event
duplicated or missing, every run's audit rows present, and the run metrics add up."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.support.core_services import CoreStack, PlannerClient
from tests.support.sse import SseEvent, events_only, parse_stream

RUNS = 50
HELLO = "Generate a 3-step plan to plan a picnic"
EXPECTED = [
    "run.queued",
    "run.started",
    "context.retrieved",
    "plan.delta",
    "plan.received",
    "run.succeeded",
]


async def start_and_stream(client: httpx.AsyncClient, planner: PlannerClient, n: int) -> Any:
    trace_id = f"load-{uuid.uuid4().hex[:8]}-{n}"
    reply = await client.post(
        "/runs",
        json={"prompt": HELLO, "session_id": f"s-load-{n}"},
        headers=planner.headers(**{"X-Trace-ID": trace_id}),
    )
    assert reply.status_code == 202, reply.text
    url = f"/runs/{reply.json()['run_id']}/events"
    async with client.stream("GET", url, headers=planner.headers()) as response:
        lines = [line async for line in response.aiter_lines()]
    return trace_id, list(events_only(parse_stream(iter(lines))))


async def run_all(planner: PlannerClient) -> list[tuple[str, list[SseEvent]]]:
    limits = httpx.Limits(max_connections=2 * RUNS)
    async with httpx.AsyncClient(base_url=planner.url, timeout=120, limits=limits) as client:
        return await asyncio.gather(*(start_and_stream(client, planner, n) for n in range(RUNS)))


@pytest.mark.reliability
def test_fifty_concurrent_streamed_runs(core_stack: CoreStack) -> None:
    planner = core_stack.planner
    succeeded_before = planner.metric("agent_runs_total", status="succeeded")
    first_events_before = planner.metric("agent_run_first_event_seconds_count")
    results = asyncio.run(run_all(planner))
    for trace_id, events in results:
        assert [e.event for e in events] == EXPECTED, trace_id
        assert [e.id for e in events] == [1, 2, 3, 4, 5, 6], trace_id
        assert planner.audit_events(trace_id) == ["PLAN_START", "PLAN_MODEL_RESPONSE", "PLAN_END"]
    assert planner.metric("agent_runs_total", status="succeeded") == succeeded_before + RUNS
    assert planner.metric("agent_run_first_event_seconds_count") == first_events_before + RUNS
    assert planner.metric("agent_runs_in_flight") == 0
    assert planner.metric("agent_run_queue_depth") == 0
    deadline = time.monotonic() + 10  # the server closes each stream after its last event
    while planner.metric("agent_run_stream_readers") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert planner.metric("agent_run_stream_readers") == 0
