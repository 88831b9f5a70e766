"""300 hello /plan calls over 30 sessions at concurrency 16: every one answers 200, every
trace has its audit rows, and every session's history holds exactly what was stored."""

from __future__ import annotations

from collections import defaultdict

import httpx
import pytest

from tests.reliability.load import PlanOutcome, audit_events, interleaved_calls, run_batch
from tests.support.core_services import CoreStack

pytestmark = pytest.mark.reliability

SESSIONS, PER_SESSION, CONCURRENCY = 30, 10, 16
REQUEST_TIMEOUT = 60.0


def session_history(stack: CoreStack, session_id: str) -> list[dict[str, str]]:
    reply = httpx.get(
        f"{stack.memory.url}/memory/latest", params={"session_id": session_id}, timeout=30
    )
    reply.raise_for_status()
    return list(reply.json()["messages"])


def stored_pairs(messages: list[dict[str, str]]) -> list[tuple[str, str]]:
    """The history as (user, assistant) pairs; fails if it is not strictly alternating."""
    roles = [message["role"] for message in messages]
    assert roles == ["user", "assistant"] * (len(messages) // 2), roles
    return [
        (messages[i]["content"], messages[i + 1]["content"]) for i in range(0, len(messages), 2)
    ]


@pytest.fixture(scope="module")
def load_outcomes(reliability_stack: CoreStack) -> list[PlanOutcome]:
    calls = interleaved_calls(SESSIONS, PER_SESSION)
    return run_batch(reliability_stack.planner, calls, CONCURRENCY, REQUEST_TIMEOUT)


def test_every_request_answers_200(load_outcomes: list[PlanOutcome]) -> None:
    failed = [
        (o.call.trace_id, o.status, o.error or o.body) for o in load_outcomes if o.status != 200
    ]
    assert len(load_outcomes) == SESSIONS * PER_SESSION
    assert not failed, failed[:5]
    assert all("steps" in o.body["result"] for o in load_outcomes)


def test_every_trace_has_its_audit_rows(
    reliability_stack: CoreStack, load_outcomes: list[PlanOutcome]
) -> None:
    events = audit_events(
        reliability_stack.planner.audit_db, (o.call.trace_id for o in load_outcomes)
    )
    expected = ["PLAN_START", "PLAN_MODEL_RESPONSE", "PLAN_END"]
    wrong = {trace: seen for trace, seen in events.items() if seen != expected}
    assert not wrong, list(wrong.items())[:5]


def test_audit_endpoint_agrees_with_the_file(
    reliability_stack: CoreStack, load_outcomes: list[PlanOutcome]
) -> None:
    for outcome in load_outcomes[:: len(load_outcomes) // 10]:
        events = reliability_stack.planner.audit_events(outcome.call.trace_id)
        assert events[-1] == "PLAN_END"
        rows = reliability_stack.planner.audit_rows(outcome.call.trace_id)
        assert {row["session_id"] for row in rows} == {outcome.call.session_id}


def test_every_session_history_holds_exactly_its_requests(
    reliability_stack: CoreStack, load_outcomes: list[PlanOutcome]
) -> None:
    expected: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for outcome in load_outcomes:
        expected[outcome.call.session_id].add((outcome.call.prompt, outcome.body["result"]))
    assert len(expected) == SESSIONS
    for session_id, pairs in expected.items():
        stored = stored_pairs(session_history(reliability_stack, session_id))
        assert len(stored) == PER_SESSION, session_id
        assert set(stored) == pairs, session_id
