"""Redis killed and restarted under load: /plan answers throughout, and notifications
resume afterwards (a fresh subscriber and the notifier both see new runs)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.reliability.load import BackgroundLoad, PlanOutcome, new_call, send_plan
from tests.reliability.service_health import assert_stack_healthy
from tests.support.core_services import CoreStack, NotificationListener, has_status
from tests.support.logs import logged, wait_for_log

pytestmark = pytest.mark.reliability

CLIENT_BOUND = 20.0  # only a hung /plan reaches it
CALLS_PER_PHASE = 3


def first_notified_run(stack: CoreStack, timeout: float = 30) -> PlanOutcome:
    """Send hello calls until a new subscriber sees one complete; return that call."""
    deadline = time.monotonic() + timeout
    with NotificationListener(stack.ports.redis) as listener, httpx.Client(timeout=10) as client:
        sent: list[PlanOutcome] = []
        while time.monotonic() < deadline:
            sent.append(send_plan(client, stack.planner, new_call()))
            assert sent[-1].status == 200, sent[-1].body
            listener.wait_for(sent[-1].call.trace_id, has_status("COMPLETED"), timeout=2)
            # A notification that arrives late for an earlier call counts as well.
            for outcome in sent:
                if has_status("COMPLETED")(listener.for_trace(outcome.call.trace_id)):
                    return outcome
    raise AssertionError(f"no notification reached a subscriber within {timeout} s")


def test_redis_restarted_mid_load(stack: CoreStack) -> None:
    first_notified_run(stack)
    redis_proc = stack["redis"]
    with BackgroundLoad(stack.planner, workers=3, timeout=CLIENT_BOUND) as load:
        load.wait_for_count(6)
        killed_at = time.monotonic()
        redis_proc.kill()
        load.wait_for_sent_since(killed_at, CALLS_PER_PHASE)
        redis_proc.start()
        back_at = time.monotonic()
        load.wait_for_sent_since(back_at, CALLS_PER_PHASE)
    outcomes = load.outcomes

    bad = [(o.status, o.error or o.body) for o in outcomes if o.status != 200]
    assert not bad, bad[:5]
    while_down = [o for o in outcomes if killed_at <= o.started <= back_at]
    assert len(while_down) >= CALLS_PER_PHASE
    assert logged(stack.planner.process, "redis_unavailable"), "outage never noticed"

    resumed = first_notified_run(stack)
    wait_for_log(stack["notifier"], resumed.call.trace_id, timeout=20)
    assert_stack_healthy(stack)
