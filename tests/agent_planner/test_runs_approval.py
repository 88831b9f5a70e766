"""Human approval of tool calls over HTTP and SSE: approve (with edited arguments, which
are what the sandbox runs), reject, timeout, a policy requests cannot weaken, stale call
ids, and the synchronous /plan that answers 202 while a run waits. The model is a loopback
OpenAI fake; tool executions are counted at the sandbox (its gRPC log, per trace id)."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.core_services import (
    CoreStack,
    NotificationListener,
    PlannerClient,
    has_status,
)
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.logs import logged
from tests.support.polling import wait_until
from tests.support.scripted_runs import (
    FINAL,
    events_of,
    printing,
    reply_gate,
    sandbox_executions,
    scripted_gateway,
    scripted_model,
    start_run,
    tool_call,
)
from tests.support.spawning import Spawner

APPROVAL = "tool.approval_required"

__all__ = ["reply_gate", "scripted_gateway", "scripted_model"]  # fixtures used here


def approval_env(gateway: str, **overrides: str) -> dict[str, str]:
    return {
        "MODEL_GATEWAY_ADDR": gateway,
        "AGENT_TOOL_APPROVAL": "execute_code",
        "AGENT_GATEWAY_TIMEOUT_SECONDS": "300",
        **overrides,
    }


@pytest.fixture(scope="module")
def planner(
    core_stack: CoreStack, module_spawn: Spawner, gateway: str, tmp_path_factory: Any
) -> PlannerClient:
    workdir = tmp_path_factory.mktemp("approval-planner")
    env = approval_env(gateway, AGENT_MAX_CONCURRENT_RUNS="1")  # one worker: see below
    return core_stack.start_planner(module_spawn, workdir, **env)


def approval_request(planner: PlannerClient, run_id: str) -> dict[str, Any]:
    return dict(events_of(planner, run_id, until=APPROVAL)[-1].data)


def post(planner: PlannerClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{planner.url}{path}", json=body, headers=planner.headers(), timeout=30)


def get_run(planner: PlannerClient, run_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{planner.url}/runs/{run_id}", headers=planner.headers()).json())


def test_approve_with_edited_args_runs_the_edit(
    core_stack: CoreStack, planner: PlannerClient, fake: FakeOpenAI, gate: threading.Event
) -> None:
    edited = f"edited-{uuid.uuid4().hex[:8]}"
    fake.push(Reply.text(printing("from-the-model")), Reply.text(FINAL))
    run = start_run(planner)
    asked = approval_request(planner, run["run_id"])
    assert (asked["tool"], asked["turn"]) == ("execute_code", 1)
    assert asked["args"]["code"] == "print('from-the-model')"
    waiting = get_run(planner, run["run_id"])
    assert waiting["status"] == "waiting_approval"
    shown = waiting["pending_approval"]  # the call, without reading the stream
    assert {k: shown[k] for k in asked} == asked
    assert shown["expires_at"] > waiting["started_at"]
    wrong = post(planner, f"/runs/{run['run_id']}/approve", {"call_id": "call_nope"})
    assert wrong.status_code == 409, wrong.text
    assert "call_nope" in wrong.json()["error"]
    assert get_run(planner, run["run_id"])["status"] == "waiting_approval"  # nothing changed
    new_args = {"language": "python", "code": f"print({edited!r})"}
    approved = post(
        planner,
        f"/runs/{run['run_id']}/approve",
        {"call_id": asked["call_id"], "args": new_args, "comment": "use mine"},
    )
    assert approved.status_code == 200, approved.text
    events = events_of(planner, run["run_id"])
    kinds = [e.event for e in events]
    assert kinds.index(APPROVAL) < kinds.index("tool.approved") < kinds.index("tool.finished")
    finished = next(e for e in events if e.event == "tool.finished").data
    assert edited in finished["output"] and "from-the-model" not in finished["output"]
    assert events[-1].event == "run.succeeded"
    assert "pending_approval" not in get_run(planner, run["run_id"])
    stale = post(planner, f"/runs/{run['run_id']}/approve", {"call_id": asked["call_id"]})
    assert stale.status_code == 409
    rows = planner.audit_rows(run["trace_id"])
    decided = next(r for r in rows if r["event_type"] == "TOOL_APPROVED")["data"]
    assert decided["original_args"]["code"] == "print('from-the-model')"
    assert decided["args"] == new_args and decided["comment"] == "use mine"
    assert "TOOL_APPROVAL_REQUESTED" in [r["event_type"] for r in rows]
    assert sandbox_executions(core_stack, run["trace_id"]) == 1


def test_a_waiting_run_holds_no_worker(
    planner: PlannerClient, fake: FakeOpenAI, gate: threading.Event
) -> None:
    """The planner has one worker: another run executes to its end while this one waits."""
    fake.push(Reply.text(printing("later")))
    waiting = start_run(planner)
    asked = approval_request(planner, waiting["run_id"])
    wait_until(lambda: planner.metric("agent_runs_in_flight") == 0, "the worker released")
    other = start_run(planner, prompt="no tools needed")
    assert events_of(planner, other["run_id"])[-1].event == "run.succeeded"
    body = {"call_id": asked["call_id"], "reason": "done with it"}
    assert post(planner, f"/runs/{waiting['run_id']}/reject", body).status_code == 200
    assert events_of(planner, waiting["run_id"])[-1].event == "run.succeeded"


def test_reject_gives_the_model_the_reason_and_the_run_goes_on(
    core_stack: CoreStack, planner: PlannerClient, fake: FakeOpenAI, gate: threading.Event
) -> None:
    fake.push(Reply.text(printing("never-runs")), Reply.text(FINAL))
    with NotificationListener(core_stack.ports.redis) as listener:
        run = start_run(planner)
        asked = approval_request(planner, run["run_id"])
        waiting = has_status("WAITING_APPROVAL")
        assert waiting(listener.wait_for(run["trace_id"], waiting))
    refused = post(planner, f"/runs/{run['run_id']}/reject", {"call_id": asked["call_id"]})
    assert refused.status_code == 422  # a reason is required
    rejected = post(
        planner, f"/runs/{run['run_id']}/reject", {"call_id": asked["call_id"], "reason": "no!"}
    )
    assert rejected.status_code == 200, rejected.text
    events = events_of(planner, run["run_id"])
    assert events[-1].event == "run.succeeded"
    finished = next(e for e in events if e.event == "tool.finished").data
    assert finished["status"] == "rejected"
    assert "Tool call rejected by the reviewer: no!" in fake.requests[-1].user_prompt
    assert "TOOL_REJECTED" in planner.audit_events(run["trace_id"])
    assert sandbox_executions(core_stack, run["trace_id"], 0) == 0


@pytest.mark.parametrize("asked", ["none", []])
def test_a_request_cannot_weaken_the_policy(
    planner: PlannerClient, fake: FakeOpenAI, gate: threading.Event, asked: Any
) -> None:
    fake.push(Reply.text(printing("x")))
    run = start_run(planner, approval=asked)
    assert approval_request(planner, run["run_id"])["tool"] == "execute_code"
    cancelled = post(planner, f"/runs/{run['run_id']}/cancel", {})
    assert cancelled.json()["status"] == "cancelled"
    assert events_of(planner, run["run_id"])[-1].event == "run.cancelled"


def test_a_request_can_add_tools_to_the_policy(
    planner: PlannerClient, fake: FakeOpenAI, gate: threading.Event
) -> None:
    fake.push(Reply.text(tool_call("web_search", query="pagi")), Reply.text(FINAL))
    run = start_run(planner, approval=["web_search"])
    asked = approval_request(planner, run["run_id"])
    assert asked["tool"] == "web_search"
    listed = httpx.get(
        f"{planner.url}/runs", params={"status": "waiting_approval"}, headers=planner.headers()
    ).json()["runs"]
    assert [r["run_id"] for r in listed] == [run["run_id"]]
    body = {"call_id": asked["call_id"], "reason": "not now"}
    assert post(planner, f"/runs/{run['run_id']}/reject", body).status_code == 200
    assert events_of(planner, run["run_id"])[-1].event == "run.succeeded"


def test_bad_approval_values_and_unknown_runs(planner: PlannerClient) -> None:
    for bad in ("some", ["no_such_tool"], 3):
        body = {"prompt": "p", "session_id": "s", "approval": bad}
        reply = httpx.post(f"{planner.url}/runs", json=body, headers=planner.headers())
        assert reply.status_code == 400 and "approval" in reply.json()["error"], reply.text
    missing = post(planner, "/runs/run_missing/approve", {"call_id": "call_x"})
    assert missing.status_code == 404


def test_synchronous_plan_answers_202_while_the_run_waits(
    planner: PlannerClient, fake: FakeOpenAI, gate: threading.Event
) -> None:
    fake.push(Reply.text(printing("sync")), Reply.text(FINAL))
    reply = planner.plan("run something", "s-approval-sync")
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert body["status"] == "waiting_approval"
    assert reply.headers["Location"] == f"/runs/{body['run_id']}"
    asked = approval_request(planner, body["run_id"])
    assert body["pending_approval"]["call_id"] == asked["call_id"]  # no stream needed
    body_reject = {"call_id": asked["call_id"], "reason": "sync test"}
    assert post(planner, f"/runs/{body['run_id']}/reject", body_reject).status_code == 200
    assert events_of(planner, body["run_id"])[-1].event == "run.succeeded"
    fake.push(Reply.text(FINAL))  # no tool call: answered in the request as before
    answered = planner.plan("just answer", "s-approval-sync")
    assert answered.status_code == 200 and json.loads(answered.json()["result"])["steps"] == [
        "done"
    ]


def test_another_planner_on_the_database_takes_the_decision(
    core_stack: CoreStack,
    planner: PlannerClient,
    spawn: Spawner,
    gateway: str,
    fake: FakeOpenAI,
    gate: threading.Event,
    tmp_path: Path,
) -> None:
    """The run waits in the database; the replica that is asked resumes it in its pool."""
    marker = f"replica-{uuid.uuid4().hex[:8]}"
    fake.push(Reply.text(printing(marker)), Reply.text(FINAL))
    run = start_run(planner)
    asked = approval_request(planner, run["run_id"])
    env = approval_env(gateway, PAGI_AUDIT_DB_PATH=str(planner.audit_db))
    other = core_stack.start_planner(spawn, tmp_path, **env)
    approved = post(other, f"/runs/{run['run_id']}/approve", {"call_id": asked["call_id"]})
    assert approved.status_code == 200, approved.text
    events = events_of(planner, run["run_id"])  # followed on the first planner
    assert events[-1].event == "run.succeeded"
    finished = next(e for e in events if e.event == "tool.finished").data
    assert marker in finished["output"]
    assert get_run(other, run["run_id"])["status"] == "succeeded"
    assert logged(other.process, "run_resumed")[0]["run_id"] == run["run_id"]
    assert sandbox_executions(core_stack, run["trace_id"]) == 1


@pytest.fixture(scope="module")
def small_planner(
    core_stack: CoreStack, module_spawn: Spawner, gateway: str, tmp_path_factory: Any
) -> PlannerClient:
    """Calls time out after half a second; checkpoints hold at most 16 KiB."""
    env = approval_env(
        gateway,
        AGENT_APPROVAL_TIMEOUT_SECONDS="0.5",
        AGENT_RUN_HEARTBEAT_SECONDS="0.2",
        AGENT_CHECKPOINT_MAX_BYTES="16384",
    )
    return core_stack.start_planner(module_spawn, tmp_path_factory.mktemp("small"), **env)


def test_a_run_outgrowing_its_checkpoint_fails_naming_the_limit(
    core_stack: CoreStack, small_planner: PlannerClient, fake: FakeOpenAI, gate: threading.Event
) -> None:
    fake.push(Reply.text(printing("never")))
    run = start_run(small_planner, prompt="x" * 20_000)
    events = events_of(small_planner, run["run_id"])
    assert events[-1].event == "run.failed"
    assert "AGENT_CHECKPOINT_MAX_BYTES=16384" in events[-1].data["error"]
    assert sandbox_executions(core_stack, run["trace_id"], 0) == 0


def test_unanswered_call_is_rejected_on_timeout(
    core_stack: CoreStack, small_planner: PlannerClient, fake: FakeOpenAI, gate: threading.Event
) -> None:
    client = small_planner
    fake.push(Reply.text(printing("late")), Reply.text(FINAL))
    run = start_run(client)
    events = events_of(client, run["run_id"])
    rejected = next(e for e in events if e.event == "tool.rejected").data
    assert rejected["reason"] == "timeout"
    assert events[-1].event == "run.succeeded"
    assert "rejected by the reviewer: timeout" in fake.requests[-1].user_prompt
    assert sandbox_executions(core_stack, run["trace_id"], 0) == 0
