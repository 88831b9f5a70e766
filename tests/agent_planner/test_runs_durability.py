"""Runs without Redis and over time: a run executes and streams completely with Redis
down, stored event payloads are bounded, and the retention job deletes old finished runs
and their events (and nothing else) when the planner starts."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.core_services import CoreStack, PlannerClient, planner_process, unused_address
from tests.support.logs import wait_for_log
from tests.support.processes import free_port
from tests.support.spawning import Spawner
from tests.support.sse import read_events

SEARCH = "Search the web for the latest Go release"
HELLO = "Generate a 3-step plan to sort my books"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs-durable")


def planner_env(core_stack: CoreStack) -> dict[str, str]:
    return core_stack.planner_env(
        REDIS_ADDR=unused_address(),
        AGENT_RUN_EVENT_MAX_BYTES="1024",
        AGENT_RUN_TOOL_OUTPUT_MAX_CHARS="100",
        AGENT_RUN_RETENTION_DAYS="30",
    )


@pytest.fixture(scope="module")
def planner(core_stack: CoreStack, module_spawn: Spawner, workdir: Path) -> PlannerClient:
    port = free_port()
    return PlannerClient(
        module_spawn(planner_process(workdir, port, **planner_env(core_stack))), port
    )


def start_run(planner: PlannerClient, prompt: str, session_id: str) -> str:
    reply = httpx.post(
        f"{planner.url}/runs",
        json={"prompt": prompt, "session_id": session_id},
        headers=planner.headers(),
        timeout=30,
    )
    assert reply.status_code == 202, reply.text
    return str(reply.json()["run_id"])


def test_runs_stream_completely_without_redis(planner: PlannerClient) -> None:
    run_id = start_run(planner, SEARCH, "s-durable-noredis")
    events = read_events(f"{planner.url}/runs/{run_id}/events", planner.headers())
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[-1].event == "run.succeeded"
    finished = next(e for e in events if e.event == "tool.finished").data
    assert len(finished["output"]) == 100
    assert finished["output_truncated"] is True
    big_plan = [e for e in events if e.event == "plan.received"][-1].data
    assert big_plan["truncated"] is True and big_plan["original_bytes"] > 1024
    assert len(big_plan["preview"].encode()) <= 512
    run = httpx.get(f"{planner.url}/runs/{run_id}", headers=planner.headers()).json()
    assert run["status"] == "succeeded" and len(run["result"]) > 1024  # the record keeps it whole


def age_run(db: Path, run_id: str, days: float) -> None:
    stamp = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="milliseconds")
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE runs SET finished_at = ? WHERE run_id = ?",
            (stamp.replace("+00:00", "Z"), run_id),
        )


def stored_events(db: Path, run_id: str) -> int:
    with sqlite3.connect(db) as connection:
        (count,) = connection.execute(
            "SELECT COUNT(*) FROM run_events WHERE run_id = ?", (run_id,)
        ).fetchone()
    return int(count)


def test_retention_deletes_old_finished_runs_and_their_events(
    core_stack: CoreStack, planner: PlannerClient, spawn: Spawner, workdir: Path
) -> None:
    old, recent = (start_run(planner, HELLO, "s-durable-retention") for _ in range(2))
    counts = {
        run_id: len(read_events(f"{planner.url}/runs/{run_id}/events", planner.headers()))
        for run_id in (old, recent)
    }
    assert all(counts.values())
    old_trace = httpx.get(f"{planner.url}/runs/{old}", headers=planner.headers()).json()["trace_id"]
    planner.process.stop()
    age_run(planner.audit_db, old, days=31)
    age_run(planner.audit_db, recent, days=29)
    restarted = spawn(planner_process(workdir, planner.http_port, **planner_env(core_stack)))
    client = PlannerClient(restarted, planner.http_port)

    def status_of(run_id: str) -> Any:
        return httpx.get(f"{client.url}/runs/{run_id}", headers=client.headers()).status_code

    assert status_of(old) == 404
    assert stored_events(client.audit_db, old) == 0
    assert status_of(recent) == 200
    assert stored_events(client.audit_db, recent) == counts[recent]
    assert client.audit_events(old_trace)[-1] == "PLAN_END"  # the audit log is never pruned
    wait_for_log(restarted, '"runs_pruned"')
