"""`run_all_dev.py --profile legacy` used as a user would: the five legacy services start on
the ports the variables choose, the dashboard aggregates them, and `--stop` ends the run.

The tests share one run and are ordered: the last one stops it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.stack import (
    RunnerRun,
    assert_all_gone,
    get_json,
    post_json,
    process_alive,
    run_runner_once,
    runner_env,
)

LEGACY_SERVICES = {"sandbox", "memory", "gateway", "demo_agent", "bff"}


@pytest.fixture(scope="module")
def legacy_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerRun]:
    workdir = tmp_path_factory.mktemp("legacy-run")
    run = RunnerRun(workdir, runner_env(workdir), ["--profile", "legacy"]).start()
    pids: list[int] = []
    try:
        run.wait_ready()
        pids = list(run.pids_record()["pids"].values())
        yield run
    finally:
        run.force_cleanup(pids)


def test_the_runner_starts_the_five_legacy_services(legacy_run: RunnerRun) -> None:
    record = legacy_run.pids_record()
    assert record["profile"] == "legacy"
    assert set(record["pids"]) == LEGACY_SERVICES
    assert all(process_alive(pid) for pid in record["pids"].values())


def test_the_dashboard_aggregates_the_running_stack(legacy_run: RunnerRun) -> None:
    # One plan first, so memory holds a session and the agent's gateway channel is warm.
    status, _, seeded = post_json(
        f"{legacy_run.url('PY_AGENT_PORT')}/api/v1/plan", {"session_id": "runner-seed"}
    )
    assert status == 200 and seeded["status"] == "ok", seeded
    status, body = get_json(f"{legacy_run.url('GO_BFF_PORT')}/api/v1/agi/dashboard-data")
    assert status == 200
    data = body["data"]
    assert all("error" not in section for section in data.values()), data
    assert data["python_agent"]["status"] == "ok"
    assert data["python_agent"]["bff_echo"]["service"] == "bff"
    assert data["rust_sandbox"]["tool_name"] == "demo"
    assert data["memory"]["messages"]


def test_stop_ends_the_run_and_frees_every_port(legacy_run: RunnerRun) -> None:
    pids = legacy_run.pids_record()["pids"]
    result = run_runner_once(legacy_run.workdir, legacy_run.env, "--profile", "legacy", "--stop")
    assert result.returncode == 0, result.stdout + result.stderr
    legacy_run.wait_exit()
    assert_all_gone(pids, legacy_run.all_ports())
    assert not (legacy_run.workdir / ".pids.json").exists()
