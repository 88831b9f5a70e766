"""The legacy demo stack (BFF, demo agent, sandbox, memory, gateway) from the runner, and
`--stop` cleaning up after a runner that was killed outright."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.e2e.runner_harness import (
    RunnerRun,
    assert_all_gone,
    get_json,
    post_json,
    process_alive,
    run_runner_once,
    runner_env,
)


def test_the_legacy_stack_serves_the_dashboard_and_stops(tmp_path: Path) -> None:
    run = RunnerRun(tmp_path, runner_env(tmp_path), ["--profile", "legacy"]).start()
    pids: dict[str, int] = {}
    try:
        run.wait_ready()
        record = run.pids_record()
        pids = record["pids"]
        assert record["profile"] == "legacy"
        assert set(pids) == {"sandbox", "memory", "gateway", "demo_agent", "bff"}

        status, _, plan = post_json(
            f"{run.url('PY_AGENT_PORT')}/api/v1/plan",
            {"prompt": "Plan a picnic", "session_id": "runner-seed"},
        )
        assert status == 200, plan
        assert plan["status"] == "ok", plan
        assert plan["plan"]["prompt"] == "Plan a picnic"
        assert plan["bff_echo"]["service"] == "bff", plan["bff_echo"]

        status, body = get_json(f"{run.url('GO_BFF_PORT')}/api/v1/agi/dashboard-data", 60)
        assert status == 200, body
        data = body["data"]
        assert all("error" not in section for section in data.values()), data
        assert data["python_agent"]["status"] == "ok"
        assert data["python_agent"]["bff_echo"]["service"] == "bff"
        assert data["rust_sandbox"]["tool_name"] == "demo"
        # The latest session: the seed, or the dashboard's own plan call if it stored first.
        assert data["memory"]["session_id"], data["memory"]
        assert {m["role"] for m in data["memory"]["messages"]} >= {"user"}, data["memory"]

        # A runner killed outright leaves its services running; --stop still finds them.
        run.signal(signal.SIGKILL)
        run.wait_exit(10)
        assert all(process_alive(pid) for pid in pids.values())
        stopped = run_runner_once(tmp_path, run.env, "--profile", "legacy", "--stop")
        assert stopped.returncode == 0, stopped.stdout
        [stopping] = [line for line in stopped.stdout.splitlines() if "stopping " in line]
        assert {name for name in pids if f"{name} (pid {pids[name]})" in stopping} == set(pids)
        assert "stopped the legacy run" in stopped.stdout
        assert_all_gone(pids, run.all_ports())
        assert not (tmp_path / ".pids.json").exists()
    finally:
        run.force_cleanup(list(pids.values()))
