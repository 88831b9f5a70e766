"""The gateway breaker: a hung or dead gateway opens it after 5 failures, /plan then fails
fast instead of waiting for the gateway timeout, and once the gateway is back the planner
recovers after the open window."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import Spawner
from tests.reliability.load import PlanOutcome, new_call, send_plan
from tests.reliability.stack_health import assert_stack_healthy
from tests.support.processes import ServiceProcess
from tests.support.stack import CoreStack, PlannerClient

pytestmark = pytest.mark.reliability

GATEWAY_TIMEOUT, OPEN_SECONDS, FAILURES = 2.0, 3.0, 5
FAST = 0.5  # "fails fast": a quarter of the gateway timeout


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


@contextmanager
def frozen(proc: ServiceProcess) -> Iterator[None]:
    """SIGSTOP the process: its sockets stay open but nothing answers (a hung server)."""
    os.killpg(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(proc.pid, signal.SIGCONT)


def assert_failed(outcomes: list[PlanOutcome]) -> None:
    for outcome in outcomes:
        assert outcome.status == 500, (outcome.status, outcome.error, outcome.body)
        assert outcome.body["error"].startswith("Agent execution failed"), outcome.body


def assert_fast_and_open(outcomes: list[PlanOutcome]) -> None:
    assert_failed(outcomes)
    for outcome in outcomes:
        assert outcome.elapsed < FAST, f"took {outcome.elapsed:.2f}s with the breaker open"
        assert "circuit breaker" in outcome.body["error"], outcome.body


def assert_recovers(planner: PlannerClient) -> None:
    """After the open window the probe goes through and every call succeeds again."""
    time.sleep(OPEN_SECONDS + 0.5)
    deadline = time.monotonic() + 15  # the channel may still be backing off its reconnect
    while (outcome := plan_calls(planner, 1)[0]).status != 200:
        assert time.monotonic() < deadline, f"not recovered: {outcome.body}"
        time.sleep(0.5)
    later = plan_calls(planner, 3)
    assert [o.status for o in later] == [200, 200, 200], [o.body for o in later]


def test_hung_gateway_opens_the_breaker_and_recovers(
    stack: CoreStack, spawn: Spawner, tmp_path: Path
) -> None:
    planner = short_fused_planner(stack, spawn, tmp_path)
    assert plan_calls(planner, 1)[0].status == 200
    with frozen(stack["gateway"]):
        timed_out = plan_calls(planner, FAILURES)
        assert_failed(timed_out)
        for outcome in timed_out:  # each waited for the gateway timeout, no longer
            assert GATEWAY_TIMEOUT * 0.9 <= outcome.elapsed < GATEWAY_TIMEOUT * 3, outcome.elapsed
        assert_fast_and_open(plan_calls(planner, 5))
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
        refused = plan_calls(planner, FAILURES)
        assert_failed(refused)
        assert all(o.elapsed < GATEWAY_TIMEOUT for o in refused), [o.elapsed for o in refused]
        assert_fast_and_open(plan_calls(planner, 5))
    finally:
        gateway.start()
    assert_recovers(planner)
    assert_stack_healthy(stack)
