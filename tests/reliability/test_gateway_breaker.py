"""The gateway breaker: a hung or dead gateway opens it after 5 failures, /plan then fails
fast instead of waiting for the gateway timeout, and once the gateway is back the planner
recovers after the open window."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.reliability.load import PlanOutcome, new_call, send_plan
from tests.reliability.service_health import assert_stack_healthy
from tests.support.core_services import CoreStack, PlannerClient
from tests.support.logs import logged
from tests.support.polling import wait_until
from tests.support.processes import frozen
from tests.support.spawning import Spawner

pytestmark = pytest.mark.reliability

# A long open window, so even a loaded machine sends the refused calls inside it.
GATEWAY_TIMEOUT, OPEN_SECONDS, FAILURES = 2.0, 10.0, 5
OPEN_MESSAGE = "Agent execution failed: GetPlan: circuit breaker for model-gateway is open"


def plan_calls(planner: PlannerClient, count: int) -> list[PlanOutcome]:
    with httpx.Client(timeout=GATEWAY_TIMEOUT * 5) as client:
        return [send_plan(client, planner, new_call()) for _ in range(count)]


def short_fused_planner(stack: CoreStack, spawn: Spawner, workdir: Path) -> PlannerClient:
    return stack.start_planner(
        spawn,
        workdir,
        AGENT_GATEWAY_TIMEOUT_SECONDS=str(GATEWAY_TIMEOUT),
        AGENT_BREAKER_OPEN_SECONDS=str(OPEN_SECONDS),
        AGENT_BREAKER_FAILURES=str(FAILURES),
    )


def assert_failed_with(outcomes: list[PlanOutcome], reason: str) -> None:
    """Every call was answered 500 by the planner because of `reason` (the gateway's own
    failure, not the client giving up)."""
    for outcome in outcomes:
        assert outcome.status == 500, (outcome.status, outcome.error, outcome.body)
        assert outcome.body["error"].startswith(f"Agent execution failed: GetPlan: {reason}")


def assert_refused_by_the_open_breaker(planner: PlannerClient, outcomes: list[PlanOutcome]) -> None:
    """The breaker answers without calling the gateway (BreakerOpenError is raised before
    the call), and it opened once, after exactly FAILURES failures."""
    for outcome in outcomes:
        assert outcome.status == 500, (outcome.status, outcome.error, outcome.body)
        assert outcome.body["error"].startswith(OPEN_MESSAGE), outcome.body
    opened = logged(planner.process, "breaker_opened")
    assert [(e["breaker"], e["consecutive_failures"]) for e in opened] == [
        ("model-gateway", FAILURES)
    ]


def assert_recovers(planner: PlannerClient) -> None:
    """Once the open window has passed, the probe goes through and calls succeed again."""
    wait_until(
        lambda: plan_calls(planner, 1)[0].status == 200,
        "the planner answering 200 again after the open window",
        interval=0.5,
    )
    later = plan_calls(planner, 3)
    assert [o.status for o in later] == [200, 200, 200], [o.body for o in later]
    assert logged(planner.process, "breaker_half_open")
    assert logged(planner.process, "breaker_closed")


def test_hung_gateway_opens_the_breaker_and_recovers(
    stack: CoreStack, spawn: Spawner, tmp_path: Path
) -> None:
    planner = short_fused_planner(stack, spawn, tmp_path)
    assert plan_calls(planner, 1)[0].status == 200
    with frozen(stack["gateway"]):
        # Each call ends through the planner's gateway deadline (the client would wait 5x).
        assert_failed_with(plan_calls(planner, FAILURES), "DEADLINE_EXCEEDED")
        assert_refused_by_the_open_breaker(planner, plan_calls(planner, 5))
    assert_recovers(planner)
    assert_stack_healthy(stack)


def test_dead_gateway_fails_fast_and_recovers_after_restart(
    stack: CoreStack, spawn: Spawner, tmp_path: Path
) -> None:
    planner = short_fused_planner(stack, spawn, tmp_path)
    assert plan_calls(planner, 1)[0].status == 200
    gateway = stack["gateway"]
    gateway.kill()
    try:
        # Refused connections, not the deadline, end these calls.
        assert_failed_with(plan_calls(planner, FAILURES), "UNAVAILABLE")
        assert_refused_by_the_open_breaker(planner, plan_calls(planner, 5))
    finally:
        gateway.start()
    assert_recovers(planner)
    assert_stack_healthy(stack)
