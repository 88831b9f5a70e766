"""`run_all_dev.py --profile scale`: 3 planners and 2 memory services on one PostgreSQL,
Redis and a Chroma server, behind nginx, used as one system. 300 /plan and /runs calls over
30 sessions at concurrency 16 keep exact histories and every audit row; every run's stream
reads the same, complete, through each replica; a run is cancelled through another replica
than the one running it; a replica killed with -9 leaves no run running and the others
keep answering. The tests share one run and are ordered: the last one stops it."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.runner_harness import (
    RunnerRun,
    assert_all_gone,
    listening,
    run_runner_once,
    runner_env,
)
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.postgres import PostgresCluster
from tests.support.processes import free_port
from tests.support.sse import TERMINAL, read_events

FINAL = '{"steps": ["done"]}'
SESSIONS, TURNS, CONCURRENCY = 30, 10, 16
PLANNERS = 3
REPLICATED_PORTS = ("AGENT_PLANNER_PORT", "MEMORY_PORT", "MEMORY_GRPC_PORT")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(Reply.text(FINAL)) as server:
        yield server


@pytest.fixture(scope="module")
def scale_run(
    tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAI, postgres_cluster: PostgresCluster
) -> Iterator[RunnerRun]:
    workdir = tmp_path_factory.mktemp("scale-run")
    (workdir / "kb").mkdir()
    env = runner_env(
        workdir,
        **{name: str(replicable_port()) for name in REPLICATED_PORTS},
        DATABASE_URL=postgres_cluster.create_database(),
        CHROMA_PORT=str(free_port()),
        KNOWLEDGE_BASES_DIR=str(workdir / "kb"),
        LLM_PROVIDER="openai",
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_API_KEY="scale-key",
        REQUEST_TIMEOUT_SECONDS="120",
        AGENT_GATEWAY_TIMEOUT_SECONDS="120",
        AGENT_RUN_HEARTBEAT_SECONDS="1",
    )
    run = RunnerRun(workdir, env, args=["--profile", "scale"]).start()
    pids: list[int] = []
    try:
        run.wait_ready()
        pids = list(run.pids_record()["pids"].values())
        yield run
    finally:
        run.force_cleanup(pids)


def replicable_port() -> int:
    """A free port whose replica ports (+10, +20, +30) are free too."""
    while True:
        port = free_port()
        if port < 60000 and not any(listening(port + 10 * n) for n in range(1, 4)):
            return port


def replica_urls(run: RunnerRun) -> list[str]:
    base = run.port("AGENT_PLANNER_PORT")
    return [f"http://127.0.0.1:{base + 10 * n}" for n in range(1, PLANNERS + 1)]


async def drive_session(
    client: httpx.AsyncClient, url: str, session: str, gate: asyncio.Semaphore
) -> dict[str, Any]:
    """TURNS calls in order, every third one a run followed until it ends."""
    sent, plans, runs = [], [], []
    async with gate:
        for turn in range(TURNS):
            prompt = f"{session} turn {turn}"
            body = {"prompt": prompt, "session_id": session}
            sent.append(prompt)
            if turn % 3 == 2:
                started = await client.post(f"{url}/runs", json=body)
                assert started.status_code == 202, started.text
                run_id = started.json()["run_id"]
                runs.append(run_id)
                await until_terminal(client, url, run_id)
            else:
                reply = await client.post(f"{url}/plan", json=body)
                assert reply.status_code == 200, reply.text
                plans.append(reply.headers["x-trace-id"])
    return {"session": session, "sent": sent, "plans": plans, "runs": runs}


async def until_terminal(client: httpx.AsyncClient, url: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120  # "hung", never the thing measured
    while time.monotonic() < deadline:
        record: dict[str, Any] = (await client.get(f"{url}/runs/{run_id}")).json()
        if record["status"] not in ("queued", "running"):
            return record
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} not finished: {record}")


async def drive_all(url: str) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY * 2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        sessions = [f"scale-{n}-{uuid.uuid4().hex[:6]}" for n in range(SESSIONS)]
        return await asyncio.gather(*(drive_session(client, url, s, gate) for s in sessions))


@pytest.fixture(scope="module")
def load(scale_run: RunnerRun) -> list[dict[str, Any]]:
    return asyncio.run(drive_all(scale_run.url("AGENT_PLANNER_PORT")))


def test_every_replica_served_the_load(scale_run: RunnerRun, load: list[dict[str, Any]]) -> None:
    assert sum(len(s["plans"]) + len(s["runs"]) for s in load) == SESSIONS * TURNS
    for n in range(1, PLANNERS + 1):
        log = (scale_run.workdir / "logs" / f"planner-{n}.log").read_text()
        assert '"path": "/plan"' in log or '"path": "/runs"' in log, f"planner-{n} idle"


def test_histories_are_exact_whichever_replica_served_each_turn(
    scale_run: RunnerRun, load: list[dict[str, Any]]
) -> None:
    memory = scale_run.url("MEMORY_PORT")  # nginx in front of both memory replicas
    # The runner generates the internal key every service requires on /memory routes.
    key = (scale_run.workdir / ".internal_api_key").read_text().strip()
    for session in load:
        reply = httpx.get(
            f"{memory}/memory/latest",
            params={"session_id": session["session"], "limit": 100},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert reply.status_code == 200, reply.text
        users = [m["content"] for m in reply.json()["messages"] if m["role"] == "user"]
        assert users == session["sent"]


def test_every_audit_row_is_there(scale_run: RunnerRun, load: list[dict[str, Any]]) -> None:
    url = replica_urls(scale_run)[0]
    for session in load:
        rows = httpx.get(f"{url}/audit", params={"session_id": session["session"]}).json()["rows"]
        kinds = [row["event_type"] for row in rows]
        assert kinds.count("PLAN_START") == TURNS and kinds.count("PLAN_END") == TURNS
        traces = {row["trace_id"] for row in rows}
        assert set(session["plans"]) <= traces


def test_each_run_streams_complete_through_every_replica(
    scale_run: RunnerRun, load: list[dict[str, Any]]
) -> None:
    for session in load:
        for run_id in session["runs"]:
            seen = [
                [(e.id, e.event) for e in read_events(f"{url}/runs/{run_id}/events")]
                for url in replica_urls(scale_run)
            ]
            assert seen[0] == seen[1] == seen[2]
            assert [seq for seq, _ in seen[0]] == list(range(1, len(seen[0]) + 1))
            assert seen[0][0][1] == "run.queued" and seen[0][-1][1] == "run.succeeded"


def held_run(fake: FakeOpenAI, url: str, session: str) -> tuple[str, threading.Event]:
    gate = threading.Event()
    fake.push(Reply.held(FINAL, gate))
    marker = f"hold {uuid.uuid4().hex}"
    started = httpx.post(f"{url}/runs", json={"prompt": marker, "session_id": session})
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 60
    while not any(marker in r.user_prompt for r in list(fake.requests)):
        assert time.monotonic() < deadline, "the held model call never arrived"
        time.sleep(0.05)
    return str(started.json()["run_id"]), gate


def test_a_run_is_cancelled_through_another_replica(
    scale_run: RunnerRun, fake: FakeOpenAI, load: list[dict[str, Any]]
) -> None:
    first, second, third = replica_urls(scale_run)
    fake.reset()
    run_id, gate = held_run(fake, first, "scale-cancel")
    try:
        cancelled = httpx.post(f"{second}/runs/{run_id}/cancel", timeout=30)
        assert cancelled.status_code in (200, 202), cancelled.text
        record = asyncio.run(terminal_via(third, run_id))
        assert record["status"] == "cancelled"
        assert read_events(f"{third}/runs/{run_id}/events")[-1].event == "run.cancelled"
    finally:
        gate.set()


async def terminal_via(url: str, run_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        return await until_terminal(client, url, run_id)


def test_a_replica_killed_mid_run_leaves_no_run_running(
    scale_run: RunnerRun, fake: FakeOpenAI, load: list[dict[str, Any]]
) -> None:
    first, second, third = replica_urls(scale_run)
    fake.reset()
    run_id, gate = held_run(fake, first, "scale-kill")
    try:
        os.kill(scale_run.pids_record()["pids"]["planner-1"], signal.SIGKILL)
        public = scale_run.url("AGENT_PLANNER_PORT")
        for n in range(12):  # nginx routes around the dead replica
            body = {"prompt": f"after kill {n}", "session_id": "scale-survivors"}
            assert httpx.post(f"{public}/plan", json=body, timeout=60).status_code == 200
        gate.set()  # the dead replica's held model call must not hold the resumed one
        # A survivor sees the dead owner's lease lapse, takes the run over from its
        # checkpoint (AGENT_RESUME_ON_START defaults to true) and finishes it.
        record = asyncio.run(terminal_via(second, run_id))
        assert record["status"] == "succeeded", record
        events = read_events(f"{third}/runs/{run_id}/events")
        assert events[-1].event in TERMINAL and events[-1].event == "run.succeeded"
        assert any(e.data.get("resumed") for e in events if e.event == "run.started"), events
    finally:
        gate.set()
    assert "planner-1 exited" in scale_run.output()


def test_stop_ends_everything(scale_run: RunnerRun) -> None:
    pids = {k: v for k, v in scale_run.pids_record()["pids"].items() if k != "planner-1"}
    stopped = run_runner_once(scale_run.workdir, scale_run.env, "--profile", "scale", "--stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert scale_run.wait_exit() == 0
    assert_all_gone(pids, [scale_run.port("AGENT_PLANNER_PORT"), scale_run.port("MEMORY_PORT")])
    assert not (Path(scale_run.workdir) / ".pids.json").exists()
