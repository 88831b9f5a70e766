"""Checkpoints and resume: a planner killed (-9) while a run waits for a reviewer, right
after a tool finished, or while a tool ran, continues the run after its restart without
running any tool twice. Executions are counted at the sandbox (its gRPC log, per trace)."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.core_services import CoreStack, PlannerClient, planner_process
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.logs import logged
from tests.support.polling import wait_until
from tests.support.postgres import PostgresCluster
from tests.support.processes import free_port
from tests.support.scripted_runs import (
    FINAL,
    events_of,
    reply_gate,
    sandbox_executions,
    scripted_gateway,
    scripted_model,
    start_run,
)
from tests.support.spawning import Spawner

__all__ = ["reply_gate", "scripted_gateway", "scripted_model"]  # fixtures used here


def program(code: str) -> str:
    return json.dumps({"tool": {"name": "execute_code", "args": {"code": code}}})


class Restartable:
    """One planner on one database file, killed and started again on the same port."""

    def __init__(self, spawn: Spawner, workdir: Path, env: dict[str, str]) -> None:
        self.spawn, self.workdir, self.env, self.port = spawn, workdir, env, free_port()
        self.client = self.start()

    def start(self) -> PlannerClient:
        return PlannerClient(
            self.spawn(planner_process(self.workdir, self.port, **self.env)), self.port
        )

    def kill_and_restart(self) -> PlannerClient:
        self.client.process.kill()
        self.client = self.start()
        return self.client


def resume_env(core_stack: CoreStack, gateway: str, **overrides: str) -> dict[str, str]:
    return core_stack.planner_env(
        MODEL_GATEWAY_ADDR=gateway, AGENT_GATEWAY_TIMEOUT_SECONDS="300", **overrides
    )


@pytest.fixture
def planner(core_stack: CoreStack, spawn: Spawner, gateway: str, tmp_path: Path) -> Restartable:
    return Restartable(
        spawn, tmp_path, resume_env(core_stack, gateway, AGENT_TOOL_APPROVAL="execute_code")
    )


def test_a_waiting_run_survives_kill_9_and_is_approved_after_restart(
    core_stack: CoreStack, planner: Restartable, fake: FakeOpenAI, gate: threading.Event
) -> None:
    marker = f"once-{uuid.uuid4().hex[:8]}"
    fake.push(Reply.text(program(f"print({marker!r})")), Reply.text(FINAL))
    run = start_run(planner.client)
    asked = events_of(planner.client, run["run_id"], until="tool.approval_required")[-1].data
    client = planner.kill_and_restart()
    url = f"{client.url}/runs/{run['run_id']}"
    assert httpx.get(url, headers=client.headers()).json()["status"] == "waiting_approval"
    approved = httpx.post(
        f"{url}/approve", json={"call_id": asked["call_id"]}, headers=client.headers()
    )
    assert approved.status_code == 200, approved.text
    events = events_of(client, run["run_id"])
    assert events[-1].event == "run.succeeded"
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    finished = [e.data for e in events if e.event == "tool.finished"]
    assert len(finished) == 1 and marker in finished[0]["output"]
    assert sandbox_executions(core_stack, run["trace_id"]) == 1


def test_kill_9_after_a_tool_finished_resumes_without_running_it_again(
    core_stack: CoreStack,
    spawn: Spawner,
    gateway: str,
    fake: FakeOpenAI,
    gate: threading.Event,
    tmp_path: Path,
) -> None:
    planner = Restartable(spawn, tmp_path, resume_env(core_stack, gateway))
    marker = f"ran-{uuid.uuid4().hex[:8]}"
    fake.push(Reply.text(program(f"print({marker!r})")), Reply.held(FINAL, gate))
    run = start_run(planner.client)
    events_of(planner.client, run["run_id"], until="tool.finished")
    wait_until(lambda: len(fake.requests) == 2, "the next plan requested (held)")
    client = planner.kill_and_restart()  # the next reply comes from the fake's default
    events = events_of(client, run["run_id"])
    assert events[-1].event == "run.succeeded"
    assert [e.event for e in events].count("tool.finished") == 1
    assert marker in fake.requests[-1].user_prompt  # the checkpointed output, given again
    resumed = [e.data for e in events if e.event == "run.started"][-1]
    assert resumed == {"turn": 1, "resumed": True}
    assert sandbox_executions(core_stack, run["trace_id"]) == 1
    assert logged(client.process, "runs_resumed")[0]["count"] == 1


def test_a_tool_in_flight_at_kill_9_is_not_run_again(
    core_stack: CoreStack,
    spawn: Spawner,
    gateway: str,
    fake: FakeOpenAI,
    gate: threading.Event,
    tmp_path: Path,
) -> None:
    planner = Restartable(spawn, tmp_path, resume_env(core_stack, gateway))
    fake.push(Reply.text(program("import time; time.sleep(3)")), Reply.text(FINAL))
    run = start_run(planner.client)
    events_of(planner.client, run["run_id"], until="tool.started")
    client = planner.kill_and_restart()
    events = events_of(client, run["run_id"])
    assert events[-1].event == "run.succeeded"
    finished = [e.data for e in events if e.event == "tool.finished"]
    assert [f["status"] for f in finished] == ["interrupted"]
    assert "result unknown" in fake.requests[-1].user_prompt
    assert "TOOL_INTERRUPTED" in client.audit_events(run["trace_id"])


def test_resume_off_marks_interrupted_runs_failed(
    core_stack: CoreStack,
    spawn: Spawner,
    gateway: str,
    fake: FakeOpenAI,
    gate: threading.Event,
    tmp_path: Path,
) -> None:
    env = resume_env(core_stack, gateway, AGENT_RESUME_ON_START="false")
    planner = Restartable(spawn, tmp_path, env)
    fake.push(Reply.text(program("print(1)")), Reply.held(FINAL, gate))
    run = start_run(planner.client)
    events_of(planner.client, run["run_id"], until="tool.finished")
    client = planner.kill_and_restart()
    events = events_of(client, run["run_id"])
    assert (events[-1].event, events[-1].data["reason"]) == ("run.failed", "planner_restarted")


def test_on_postgres_any_replica_decides_and_a_dead_replicas_run_is_adopted(
    core_stack: CoreStack,
    spawn: Spawner,
    gateway: str,
    fake: FakeOpenAI,
    gate: threading.Event,
    tmp_path: Path,
) -> None:
    """Approved through replica B, executed there; B killed after the tool finished; A's
    lease sweep adopts the run and completes it without running the tool again."""
    cluster = PostgresCluster.create().start()
    try:
        env = resume_env(
            core_stack,
            gateway,
            AGENT_TOOL_APPROVAL="execute_code",
            AGENT_RUN_HEARTBEAT_SECONDS="0.3",
            DATABASE_URL=cluster.url(),
        )
        first = core_stack.start_planner(spawn, tmp_path / "a", **env)
        second = core_stack.start_planner(spawn, tmp_path / "b", **env)
        marker = f"pg-{uuid.uuid4().hex[:8]}"
        fake.push(Reply.text(program(f"print({marker!r})")), Reply.held(FINAL, gate))
        run = start_run(first)
        asked = events_of(second, run["run_id"], until="tool.approval_required")[-1].data
        approve = f"{second.url}/runs/{run['run_id']}/approve"
        reply = httpx.post(approve, json={"call_id": asked["call_id"]}, headers=second.headers())
        assert reply.status_code == 200, reply.text
        events_of(first, run["run_id"], until="tool.finished")
        wait_until(lambda: len(fake.requests) == 2, "the next plan requested (held)")
        second.process.kill()
        events = events_of(first, run["run_id"])
        assert events[-1].event == "run.succeeded"
        assert [e.event for e in events].count("tool.finished") == 1
        assert sandbox_executions(core_stack, run["trace_id"]) == 1
        assert logged(first.process, "run_resumed")[0]["run_id"] == run["run_id"]
    finally:
        cluster.remove()


def mark_call_in_flight(db: Path, run_id: str) -> None:
    """The state a planner killed during the call leaves: running, the call sent."""
    with sqlite3.connect(db) as connection:
        (text,) = connection.execute(
            "SELECT data FROM run_checkpoints WHERE run_id = ?", (run_id,)
        ).fetchone()
        checkpoint = json.loads(text)
        checkpoint["pending"]["state"] = "running"
        connection.execute(
            "UPDATE run_checkpoints SET data = ?, call_id = NULL, deadline = NULL WHERE run_id = ?",
            (json.dumps(checkpoint), run_id),
        )
        connection.execute("UPDATE runs SET status = 'running' WHERE run_id = ?", (run_id,))


def test_an_idempotent_call_in_flight_at_a_crash_runs_again(
    core_stack: CoreStack, planner: Restartable, fake: FakeOpenAI, gate: threading.Event
) -> None:
    """web_search changes nothing, so a call whose end is unknown is simply sent again."""
    query = json.dumps({"tool": {"name": "web_search", "args": {"query": "pagi"}}})
    fake.push(Reply.text(query), Reply.text(FINAL))
    run = start_run(planner.client, approval=["web_search"])  # stops before the call
    events_of(planner.client, run["run_id"], until="tool.approval_required")
    planner.client.process.kill()
    mark_call_in_flight(planner.client.audit_db, run["run_id"])
    client = planner.start()
    events = events_of(client, run["run_id"])
    assert events[-1].event == "run.succeeded"
    finished = [e.data for e in events if e.event == "tool.finished"]
    assert [f["name"] for f in finished] == ["web_search"]
    assert finished[0]["status"] != "interrupted"
    assert sandbox_executions(core_stack, run["trace_id"]) == 1


def test_a_run_resumed_after_kill_9_searches_the_namespace_it_chose(
    core_stack: CoreStack,
    spawn: Spawner,
    gateway: str,
    fake: FakeOpenAI,
    gate: threading.Event,
    tmp_path: Path,
) -> None:
    namespace = f"resume-{uuid.uuid4().hex[:6]}"
    text = f"The quoll-{namespace} runbook says: restart the west cluster first."
    document = {"text": text, "source": "runbook.md"}
    ingest = {"knowledge_base": "Domain-KB", "namespace": namespace, "documents": [document]}
    reply = httpx.post(f"{core_stack.memory.url}/memory/ingest", json=ingest, timeout=60)
    assert reply.status_code == 200, reply.text
    planner = Restartable(spawn, tmp_path, resume_env(core_stack, gateway))
    fake.push(Reply.held(FINAL, gate))
    choice = {"namespace": namespace, "knowledge_bases": ["Domain-KB"]}
    run = start_run(planner.client, "what does the quoll runbook say", **choice)
    events_of(planner.client, run["run_id"], until="context.retrieved")
    wait_until(lambda: len(fake.requests) == 1, "the plan requested (held)")
    client = planner.kill_and_restart()  # the next reply comes from the fake's default
    events = events_of(client, run["run_id"])
    assert events[-1].event == "run.succeeded"
    contexts = [e.data for e in events if e.event == "context.retrieved"]
    assert len(contexts) == 2  # before the kill, and again after the restart
    for context in contexts:
        assert (context["namespace"], context["knowledge_bases"]) == (namespace, ["Domain-KB"])
        assert text in [match["text"] for match in context["retrieved"]]
