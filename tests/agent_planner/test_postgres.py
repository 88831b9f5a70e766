"""The planner on PostgreSQL: /plan, audit rows and runs in the database, and a PostgreSQL
stopped under load and started again: clear 503s naming the database while it is gone,
full recovery afterwards without restarting the planner."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.core_services import CoreStack, PlannerClient
from tests.support.polling import wait_until
from tests.support.postgres import PostgresCluster
from tests.support.spawning import Spawner


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    own = PostgresCluster.create().start()
    yield own
    own.remove()


def start_run(planner: PlannerClient, session: str) -> httpx.Response:
    return httpx.post(
        f"{planner.url}/runs",
        json={"prompt": "hello", "session_id": session},
        headers=planner.headers(),
        timeout=30,
    )


def test_planner_survives_a_postgres_restart_under_load(
    core_stack: CoreStack, spawn: Spawner, tmp_path: Path, cluster: PostgresCluster
) -> None:
    planner = core_stack.start_planner(
        spawn, tmp_path, DATABASE_URL=cluster.url(), DATABASE_CONNECT_TIMEOUT_SECONDS="2"
    )
    reply = planner.plan("hello", "pg-session")
    assert reply.status_code == 200, reply.text
    trace = reply.headers["x-trace-id"]
    assert {"PLAN_START", "PLAN_END"} <= set(planner.audit_events(trace))
    assert start_run(planner, "pg-session").status_code == 202

    statuses: Counter[int] = Counter()
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            statuses[start_run(planner, "pg-load").status_code] += 1

    worker = threading.Thread(target=load)
    worker.start()
    try:
        wait_until(lambda: statuses[202] >= 3, "runs accepted before the outage")
        cluster.stop("immediate")
        wait_until(lambda: statuses[503] >= 3, "503s while PostgreSQL is down")
        down = httpx.get(f"{planner.url}/ready", timeout=30)
        assert down.status_code == 503
        refused = start_run(planner, "pg-down")
        assert refused.status_code == 503
        assert "database unavailable" in refused.json()["error"]
        cluster.start()
        accepted = statuses[202]
        wait_until(lambda: statuses[202] >= accepted + 5, "runs accepted after the restart")
    finally:
        stop.set()
        worker.join(60)
    assert set(statuses) <= {202, 503}, statuses
    assert httpx.get(f"{planner.url}/ready", timeout=30).status_code == 200
    again = planner.plan("after the outage", "pg-session")
    assert again.status_code == 200
    assert "PLAN_END" in planner.audit_events(again.headers["x-trace-id"])
