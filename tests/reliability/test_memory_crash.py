"""kill -9 of the memory service under load: /plan keeps answering (no history, no RAG)
or fails fast, nothing hangs, no audit row is lost; after a restart on the same ports the
planner uses memory again."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.reliability.load import (
    BackgroundLoad,
    PlanOutcome,
    audit_events,
    new_call,
    send_plan,
)
from tests.reliability.service_health import assert_stack_healthy
from tests.support.core_services import CoreStack, PlannerClient
from tests.support.logs import log_events, logged
from tests.support.spawning import Spawner

pytestmark = pytest.mark.reliability

RAG_TIMEOUT, MEMORY_HTTP_TIMEOUT = 5, 3
# history + RAG run together, then GetPlan, then the session store: the planner's own
# timeouts bound a request well inside this.
CLIENT_BOUND = 20.0  # only a hung /plan reaches it
CALLS_PER_PHASE = 4
FULL_RUN = ["PLAN_START", "PLAN_MODEL_RESPONSE", "PLAN_END"]


def during(outcomes: list[PlanOutcome], start: float, end: float) -> list[PlanOutcome]:
    return [o for o in outcomes if start <= o.started and o.started + o.elapsed <= end]


def rag_unavailable_traces(planner: PlannerClient) -> set[str]:
    return {str(r.get("trace_id")) for r in log_events(planner.process, "rag_context_unavailable")}


def memory_saw_trace(stack: CoreStack, trace_id: str) -> bool:
    method = "/modelgateway.ModelGateway/GetPlanContext"
    return bool(logged(stack.memory, "grpc_request", timeout=2, trace_id=trace_id, method=method))


def wait_for_full_service(stack: CoreStack, planner: PlannerClient) -> PlanOutcome:
    """Send hello calls until one gets history and RAG from memory again (the RAG breaker
    may still be open for a moment); return that call's outcome."""
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=CLIENT_BOUND) as client:
        while time.monotonic() < deadline:
            outcome = send_plan(client, planner, new_call())
            if outcome.status == 200 and memory_saw_trace(stack, outcome.call.trace_id):
                return outcome
            time.sleep(0.5)
    raise AssertionError("the planner did not use memory's RAG again within 30 s")


def test_memory_killed_mid_load_then_restarted(
    stack: CoreStack, spawn: Spawner, tmp_path: Path
) -> None:
    planner = stack.start_planner(
        spawn,
        tmp_path,
        AGENT_RAG_TIMEOUT_SECONDS=str(RAG_TIMEOUT),
        AGENT_MEMORY_HTTP_TIMEOUT_SECONDS=str(MEMORY_HTTP_TIMEOUT),
    )
    with BackgroundLoad(planner, workers=4, timeout=CLIENT_BOUND) as load:
        load.wait_for_count(12)
        killed_at = time.monotonic()
        stack.memory.kill()
        load.wait_for_sent_since(killed_at, CALLS_PER_PHASE)
        stack.memory.start()
        back_at = time.monotonic()
        load.wait_for_sent_since(back_at, CALLS_PER_PHASE)
    outcomes = load.outcomes

    unanswered = [
        (o.call.trace_id, o.error, round(o.elapsed, 1)) for o in outcomes if not o.answered
    ]
    assert not unanswered, unanswered[:5]
    odd = [(o.status, o.body) for o in outcomes if o.status not in (200, 500)]
    assert not odd, odd[:5]
    for failed in (o for o in outcomes if o.status == 500):
        assert failed.body["error"].startswith("Agent execution failed"), failed.body

    while_down = during(outcomes, killed_at, back_at)
    assert len(while_down) >= CALLS_PER_PHASE
    assert {o.status for o in while_down} <= {200, 500}
    ok_while_down = [o.call.trace_id for o in while_down if o.status == 200]
    assert ok_while_down, "no request answered while memory was down"
    assert set(ok_while_down) & rag_unavailable_traces(planner), "RAG never reported missing"

    succeeded = [o.call.trace_id for o in outcomes if o.status == 200]
    events = audit_events(planner.audit_db, succeeded)
    # A run whose final session write failed also has a MEMORY_WRITE_ERROR row.
    lost = {
        trace: seen
        for trace, seen in events.items()
        if [e for e in seen if e != "MEMORY_WRITE_ERROR"] != FULL_RUN
    }
    assert not lost, list(lost.items())[:5]

    recovered = wait_for_full_service(stack, planner)
    assert recovered.call.trace_id not in rag_unavailable_traces(planner)
    history = httpx.get(
        f"{stack.memory.url}/memory/latest",
        params={"session_id": recovered.call.session_id},
        timeout=10,
    ).json()["messages"]
    assert [m["content"] for m in history] == [recovered.call.prompt, recovered.body["result"]]
    assert_stack_healthy(stack)
