"""The runner's controls and failure paths: `--stop` from a second invocation, running
without Redis, a port already taken, and a service that never becomes ready."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
from pathlib import Path

from tests.e2e.runner_harness import (
    RunnerRun,
    assert_all_gone,
    post_json,
    process_alive,
    run_runner_once,
    run_verify,
    runner_env,
)
from tests.support.processes import free_port


def no_redis_env(workdir: Path, **extra: str) -> dict[str, str]:
    """Nothing answers at REDIS_ADDR and redis-server is not on PATH."""
    empty_bin = workdir / "bin"
    empty_bin.mkdir(exist_ok=True)
    return runner_env(workdir, PATH=str(empty_bin), **extra)


def started_pids(output: str) -> dict[str, int]:
    return {
        name: int(pid)
        for name, pid in re.findall(r"\[runner\] (\w+): starting \(pid (\d+)", output)
    }


def test_stop_from_a_second_invocation_without_redis_and_a_stubborn_service(
    tmp_path: Path,
) -> None:
    run = RunnerRun(tmp_path, no_redis_env(tmp_path), ["--profile", "core", "--grace", "2"])
    run.start()
    pids: dict[str, int] = {}
    try:
        run.wait_ready()
        output = run.output()
        assert "notifications are OFF" in output
        assert "the notifier is not started" in output
        pids = run.pids_record()["pids"]
        assert set(pids) == {"memory", "sandbox", "gateway", "planner"}

        status, _, body = post_json(
            f"{run.url('AGENT_PLANNER_PORT')}/plan",
            {"prompt": "Plan a quiet afternoon", "session_id": "no-redis"},
        )
        assert status == 200, body  # the planner answers even with notifications off

        # A stopped process leaves SIGTERM pending: memory now ignores it, as a hung
        # service would, and only the SIGKILL after the 2 s grace period ends it.
        os.killpg(pids["memory"], signal.SIGSTOP)
        stopped = run_runner_once(tmp_path, run.env, "--stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert "stopped the core run" in stopped.stdout
        assert run.wait_exit(30) == 0
        stubborn = f"memory (pid {pids['memory']}) ignored SIGTERM for 2 s; killing it"
        assert stubborn in run.output()  # (on a loaded machine others may need the kill too)
        assert_all_gone(pids, run.all_ports())
        assert not (tmp_path / ".pids.json").exists()
    finally:
        run.force_cleanup(list(pids.values()))


def test_stop_with_nothing_recorded_says_so(tmp_path: Path) -> None:
    result = run_runner_once(tmp_path, runner_env(tmp_path), "--stop")
    assert result.returncode == 0
    assert "nothing to stop" in result.stdout


def test_a_taken_port_is_reported_before_anything_starts(tmp_path: Path) -> None:
    env = no_redis_env(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(env["RUST_SANDBOX_GRPC_PORT"])))
        squatter.listen()
        result = run_runner_once(tmp_path, env, "--profile", "core")
    assert result.returncode == 1
    assert f"port {env['RUST_SANDBOX_GRPC_PORT']} (RUST_SANDBOX_GRPC_PORT" in result.stdout
    assert "needed by sandbox" in result.stdout
    assert "starting (pid" not in result.stdout
    assert not (tmp_path / ".pids.json").exists()


def test_a_service_that_exits_at_start_shows_its_log_and_stops_the_rest(tmp_path: Path) -> None:
    # An OpenAI provider without a key is a start-up error of the gateway.
    env = no_redis_env(tmp_path, LLM_PROVIDER="openai")
    result = run_runner_once(tmp_path, env, "--profile", "core")
    assert result.returncode == 1, result.stdout
    assert "gateway exited with code" in result.stdout
    assert "Last lines of logs/gateway.log" in result.stdout
    assert "OPENAI_API_KEY" in result.stdout  # the service's own message, from the log tail
    pids = started_pids(result.stdout)
    assert {"memory", "sandbox", "gateway"} <= set(pids)
    assert "planner" not in pids  # it waits for its dependencies
    assert_all_gone(pids, [int(env["MEMORY_PORT"]), int(env["RUST_SANDBOX_PORT"])])
    assert not (tmp_path / ".pids.json").exists()


def test_a_service_not_ready_in_time_fails_the_run(tmp_path: Path) -> None:
    result = run_runner_once(tmp_path, no_redis_env(tmp_path), "--ready-timeout", "1")
    assert result.returncode == 1, result.stdout
    assert re.search(r"\w+ was not ready after 1 s\. Last lines of logs/\w+\.log", result.stdout)
    assert_all_gone(started_pids(result.stdout), [])


def test_a_stale_pids_file_is_replaced_without_killing_a_reused_pid(tmp_path: Path) -> None:
    # The recorded planner pid now belongs to an unrelated process (its start time differs):
    # the file is stale, and that process must survive.
    bystander = subprocess.Popen(["sleep", "600"])
    try:
        record = {
            "profile": "core",
            "runner_pid": bystander.pid,
            "runner_start": "1",
            "pids": {"planner": bystander.pid},
            "starts": {"planner": "1"},
        }
        (tmp_path / ".pids.json").write_text(json.dumps(record))
        env = no_redis_env(tmp_path)
        with socket.socket() as squatter:  # stop right after the stale-file check
            squatter.bind(("127.0.0.1", int(env["MEMORY_PORT"])))
            squatter.listen()
            result = run_runner_once(tmp_path, env, "--profile", "core")
        assert "removing the stale .pids.json" in result.stdout, result.stdout
        assert not (tmp_path / ".pids.json").exists()
        assert bystander.poll() is None, "the runner killed a process it did not start"
        assert process_alive(bystander.pid)
    finally:
        bystander.kill()
        bystander.wait()


def test_ports_come_from_dot_env_unless_the_environment_sets_them(tmp_path: Path) -> None:
    env = no_redis_env(tmp_path)
    taken = int(env.pop("MEMORY_GRPC_PORT"))
    (tmp_path / ".env").write_text(f"# local overrides\nexport MEMORY_GRPC_PORT='{taken}'\n")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        result = run_runner_once(tmp_path, env, "--profile", "core")
    assert result.returncode == 1
    assert f"port {taken} (MEMORY_GRPC_PORT, needed by memory)" in result.stdout


def test_the_verify_script_fails_clearly_when_no_planner_answers(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "AGENT_URL": f"http://127.0.0.1:{free_port()}"}
    result = run_verify(tmp_path, env, "--bare-metal")
    assert result.returncode == 1
    assert "FAIL cannot reach the planner at" in result.stdout
    assert "RESULT: FAIL" in result.stdout
