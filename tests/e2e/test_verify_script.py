"""scripts/verify_e2e_audit.sh in compose mode checks that the compose stack exists before
anything else, and says what compose answered instead of blaming the notifier."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.runner_harness import run_verify
from tests.support.processes import ROOT, base_env, free_port

# Stands in for `docker compose`: `ps --services --filter status=running` lists $RUNNING.
PS_SHIM = """#!/usr/bin/env bash
echo "$*" >> "$SHIM_CALLS"
[ "$1" = ps ] || exit 3
printf '%s\\n' $RUNNING
"""


def verify_with(tmp_path: Path, compose: str, **env: str) -> tuple[int, str]:
    unreachable = f"http://127.0.0.1:{free_port()}"
    full_env = base_env(COMPOSE=compose, AGENT_URL=unreachable, **env)
    result = run_verify(ROOT, full_env)
    return result.returncode, result.stdout + result.stderr


def shim(tmp_path: Path) -> Path:
    path = tmp_path / "compose-shim"
    path.write_text(PS_SHIM)
    path.chmod(0o755)
    return path


def test_compose_that_cannot_list_the_stack_is_reported_with_its_error(tmp_path: Path) -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose)")
    code, output = verify_with(
        tmp_path,
        f"{binary} -p pagi-no-such-stack",
        DOCKER_HOST=f"unix://{tmp_path}/no-docker.sock",
    )
    assert code == 1
    assert "FAIL cannot list the compose stack: " in output
    assert "DockerException" in output or "docker" in output.lower()
    assert "cannot reach the planner" not in output  # stopped before any request


def test_a_project_without_running_services_is_no_such_stack(tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    code, output = verify_with(tmp_path, str(shim(tmp_path)), RUNNING="", SHIM_CALLS=str(calls))
    assert code == 1
    assert "FAIL no such compose stack: " in output
    assert "trace" not in output and "cannot reach the planner" not in output
    assert calls.read_text() == "ps --services --filter status=running\n"


def test_missing_services_of_a_running_stack_are_named(tmp_path: Path) -> None:
    code, output = verify_with(
        tmp_path,
        str(shim(tmp_path)),
        RUNNING="redis agent-planner",
        SHIM_CALLS=str(tmp_path / "calls.txt"),
    )
    assert code == 1
    assert (
        "FAIL the compose stack is up but not running: notification-service audit-inspector"
        in output
    )


def test_a_running_stack_passes_the_check_and_goes_on_to_the_planner(tmp_path: Path) -> None:
    code, output = verify_with(
        tmp_path,
        str(shim(tmp_path)),
        RUNNING="redis agent-planner notification-service audit-inspector",
        SHIM_CALLS=str(tmp_path / "calls.txt"),
    )
    assert "PASS compose stack is running (4 services)" in output
    assert code == 1 and "cannot reach the planner" in output
