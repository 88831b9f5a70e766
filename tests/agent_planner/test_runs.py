"""Runs over the shared core stack (mock model): POST /runs, the stored record, the SSE event
stream in order with replay and Last-Event-ID, streamed /plan, listing, and bad input."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.core_services import CoreStack, PlannerClient
from tests.support.sse import TERMINAL, SseEvent, parse_stream, read_events

HELLO = "Generate a 3-step plan to tidy my shelf"
SEARCH = "Search the web for the latest Rust release"
DIRECT_EVENTS = [
    "run.queued",
    "run.started",
    "context.retrieved",
    "plan.delta",
    "plan.received",
    "run.succeeded",
]
TOOL_EVENTS = [
    "run.queued",
    "run.started",
    "context.retrieved",
    "plan.delta",
    "plan.received",
    "tool.started",
    "tool.finished",
    "context.retrieved",
    "plan.delta",
    "plan.received",
    "run.succeeded",
]


def start_run(
    planner: PlannerClient, prompt: str, session_id: str, **headers: str
) -> httpx.Response:
    return httpx.post(
        f"{planner.url}/runs",
        json={"prompt": prompt, "session_id": session_id},
        headers=planner.headers(**headers),
        timeout=30,
    )


def events_of(
    planner: PlannerClient, run_id: str, query: str = "", **headers: str
) -> list[SseEvent]:
    return read_events(f"{planner.url}/runs/{run_id}/events{query}", planner.headers(**headers))


def get_run(planner: PlannerClient, run_id: str) -> dict[str, Any]:
    reply = httpx.get(f"{planner.url}/runs/{run_id}", headers=planner.headers(), timeout=10)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


@pytest.fixture(scope="module")
def direct_run(core_stack: CoreStack) -> dict[str, Any]:
    planner = core_stack.planner
    reply = start_run(planner, HELLO, "s-runs-direct", **{"X-Trace-ID": "trace-run-direct"})
    assert reply.status_code == 202, reply.text
    events = events_of(planner, reply.json()["run_id"])
    return {"reply": reply, "events": events}


@pytest.fixture(scope="module")
def tool_run(core_stack: CoreStack) -> dict[str, Any]:
    planner = core_stack.planner
    reply = start_run(planner, SEARCH, "s-runs-tool")
    assert reply.status_code == 202, reply.text
    return {"reply": reply, "events": events_of(planner, reply.json()["run_id"])}


def test_post_runs_answers_202_with_the_run_link(direct_run: dict[str, Any]) -> None:
    reply: httpx.Response = direct_run["reply"]
    body = reply.json()
    assert set(body) == {"run_id", "status", "trace_id", "session_id"}
    assert body["status"] == "queued"
    assert body["trace_id"] == "trace-run-direct"
    assert body["session_id"] == "s-runs-direct"
    assert reply.headers["Location"] == f"/runs/{body['run_id']}"


def test_direct_run_streams_every_event_once_in_order(direct_run: dict[str, Any]) -> None:
    events: list[SseEvent] = direct_run["events"]
    assert [e.event for e in events] == DIRECT_EVENTS
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    context, delta, plan, done = (e.data for e in events[2:6])
    assert context["knowledge_bases"] == ["Mind-KB", "Domain-KB", "Body-KB", "Soul-KB"]
    assert {"history_messages", "matches", "latency_ms"} <= set(context)
    assert plan["turn"] == 1 and plan["model"] == "mock"
    assert delta == {"turn": 1, "delta": plan["plan"], "reset": False}, "the mock writes at once"
    assert json.loads(plan["plan"])["steps"][0].startswith("Restate the objective")
    assert done["result"] == plan["plan"]


def test_direct_run_record_and_audit_rows(
    core_stack: CoreStack, direct_run: dict[str, Any]
) -> None:
    run = get_run(core_stack.planner, direct_run["reply"].json()["run_id"])
    assert run["status"] == "succeeded"
    assert run["turns"] == 1
    assert run["result"] == direct_run["events"][-1].data["result"]
    assert run["created_at"] <= run["started_at"] <= run["finished_at"]
    assert run["error"] is None
    audit = core_stack.planner.audit_events("trace-run-direct")
    assert audit == ["PLAN_START", "PLAN_MODEL_RESPONSE", "PLAN_END"]


def test_tool_run_streams_the_tool_steps(tool_run: dict[str, Any]) -> None:
    events: list[SseEvent] = tool_run["events"]
    assert [e.event for e in events] == TOOL_EVENTS
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    started, finished = events[5].data, events[6].data
    assert started["name"] == "web_search" and started["args"]["query"]
    assert finished["status"] == "ok"
    assert finished["output_truncated"] is False
    assert json.loads(finished["output"])["status"] == "ok"
    assert events[8].data["turn"] == events[9].data["turn"] == 2


def test_finished_run_replays_fully_and_resumes_after_an_id(
    core_stack: CoreStack, tool_run: dict[str, Any]
) -> None:
    planner, run_id = core_stack.planner, tool_run["reply"].json()["run_id"]
    assert events_of(planner, run_id) == tool_run["events"]
    after_header = events_of(planner, run_id, **{"Last-Event-ID": "4"})
    assert [e.id for e in after_header] == [5, 6, 7, 8, 9, 10, 11]
    after_query = events_of(planner, run_id, "?after=9")
    assert [e.event for e in after_query] == ["plan.received", "run.succeeded"]
    assert events_of(planner, run_id, "?after=11") == []


def test_streamed_plan_shows_the_run_live(core_stack: CoreStack) -> None:
    planner = core_stack.planner
    headers = planner.headers(Accept="text/event-stream")
    body = {"prompt": SEARCH, "session_id": "s-runs-plan-sse"}
    with httpx.stream("POST", f"{planner.url}/plan", json=body, headers=headers, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [e for e in parse_stream(r.iter_lines()) if isinstance(e, SseEvent)]
    assert [e.event for e in events] == TOOL_EVENTS
    assert events[0].data["run_id"] == r.headers["X-Run-ID"]
    assert get_run(planner, r.headers["X-Run-ID"])["status"] == "succeeded"


def test_plain_plan_is_unchanged_beside_runs(core_stack: CoreStack) -> None:
    reply = core_stack.planner.plan(HELLO, "s-runs-plain", trace_id="trace-runs-plain")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert set(reply.json()) == {"result"}


def test_list_runs_newest_first_filtered_and_paged(core_stack: CoreStack) -> None:
    planner = core_stack.planner
    ids = [start_run(planner, HELLO, "s-runs-list").json()["run_id"] for _ in range(3)]
    for run_id in ids:
        assert events_of(planner, run_id)[-1].event in TERMINAL

    def page(**params: str) -> httpx.Response:
        return httpx.get(f"{planner.url}/runs", params=params, headers=planner.headers())

    first = page(session_id="s-runs-list", limit="2").json()
    assert [r["run_id"] for r in first["runs"]] == [ids[2], ids[1]]
    second = page(session_id="s-runs-list", limit="2", before=first["next_before"]).json()
    assert [r["run_id"] for r in second["runs"]] == [ids[0]]
    assert second["next_before"] is None
    succeeded = page(session_id="s-runs-list", status="succeeded").json()["runs"]
    assert {r["run_id"] for r in succeeded} == set(ids)
    assert page(session_id="s-runs-list", status="running").json()["runs"] == []
    bad_status = page(status="done")
    assert bad_status.status_code == 400 and "status must be one of" in bad_status.json()["error"]
    bad_before = page(before="run_missing")
    assert bad_before.status_code == 400 and "run_missing" in bad_before.json()["error"]
    assert page(limit="0").status_code == 422


def test_unknown_run_is_404_everywhere(core_stack: CoreStack) -> None:
    planner = core_stack.planner
    for method, path in (
        ("GET", "/runs/run_nope"),
        ("GET", "/runs/run_nope/events"),
        ("POST", "/runs/run_nope/cancel"),
    ):
        reply = httpx.request(method, f"{planner.url}{path}", headers=planner.headers())
        assert reply.status_code == 404, path
        assert reply.json() == {"error": "run not found: run_nope"}


def test_cancel_of_a_finished_run_is_409(core_stack: CoreStack, direct_run: dict[str, Any]) -> None:
    planner, run_id = core_stack.planner, direct_run["reply"].json()["run_id"]
    reply = httpx.post(f"{planner.url}/runs/{run_id}/cancel", headers=planner.headers())
    assert reply.status_code == 409
    assert reply.json()["status"] == "succeeded"
    assert get_run(planner, run_id)["status"] == "succeeded"


def test_bad_inputs_are_named(core_stack: CoreStack, direct_run: dict[str, Any]) -> None:
    planner, run_id = core_stack.planner, direct_run["reply"].json()["run_id"]
    reply = httpx.post(f"{planner.url}/runs", content=b"{}", headers=planner.headers())
    assert reply.status_code == 400
    assert reply.json() == {"error": "Prompt and session_id are required"}
    bad_id = httpx.get(
        f"{planner.url}/runs/{run_id}/events", headers=planner.headers(**{"Last-Event-ID": "x"})
    )
    assert bad_id.status_code == 400 and "Last-Event-ID" in bad_id.json()["error"]
    unauthorised = httpx.post(f"{planner.url}/runs", json={"prompt": "a", "session_id": "b"})
    assert unauthorised.status_code == 401
