"""Without bubblewrap (SANDBOX_ISOLATION=rlimits) the rlimits still hold, and the service
says once that network isolation is off."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.conftest import (
    SERVICE_SECRET,
    Sandbox,
    child_processes,
    running_sandbox,
    sandbox_service,
    start_until_exit,
    wait_until_gone,
)
from tests.support.logs import settled_events, wait_for_log
from tests.support.spawning import Spawner


@pytest.fixture(scope="module")
def rlimits_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with running_sandbox(
        tmp_path_factory.mktemp("rlimits"), SANDBOX_ISOLATION="rlimits"
    ) as service:
        yield service


def test_rlimits_mode_runs_code_with_limits(rlimits_only: Sandbox) -> None:
    hello = rlimits_only.run_code("print('hello')")
    assert hello["status"] == "ok"
    assert hello["execution_environment"]["used"] == "rlimits"
    big = rlimits_only.run_code("x = bytearray(1024 ** 3)", memory_limit_mb=128)
    assert big["status"] == "runtime_error"
    assert "MemoryError" in big["stderr"]
    looping = rlimits_only.run_code("while True: pass", timeout_seconds=1)
    assert (looping["status"], looping["exit_code"]) == ("timeout", None)
    assert wait_until_gone(lambda: child_processes(rlimits_only.process.pid)) == []
    env = rlimits_only.run_code("import os; print(dict(os.environ))")
    assert SERVICE_SECRET not in env["stdout"]
    assert "OPENAI_API_KEY" not in env["stdout"]


def test_rlimits_mode_warns_once(rlimits_only: Sandbox) -> None:
    rlimits_only.run_code("pass")
    rlimits_only.run_code("pass")
    assert len(settled_events(rlimits_only.process, "network_isolation_off", 1)) == 1
    health = rlimits_only.http_tool({"tool_name": "demo"})
    assert health.status_code == 200


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap not installed")
def test_installed_bubblewrap_is_used_and_does_not_warn(sandbox: Sandbox) -> None:
    # bwrap on PATH but not working must fail here, not pass as "not installed".
    used = sandbox.run_code("pass")["execution_environment"]["used"]
    assert used == "bubblewrap", f"bwrap is installed but the sandbox fell back to {used}"
    assert not settled_events(sandbox.process, "network_isolation_off")


def broken_bwrap_path(directory: Path) -> str:
    """A PATH whose first `bwrap` exists but cannot set anything up."""
    fake = directory / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    return f"{directory}:/usr/local/bin:/usr/bin:/bin"


def test_unusable_bwrap_falls_back_to_rlimits(tmp_path: Path, spawn: Spawner) -> None:
    service = sandbox_service(tmp_path, PATH=broken_bwrap_path(tmp_path))
    spawn(service.process)
    assert service.run_code("print('ok')")["execution_environment"]["used"] == "rlimits"
    assert len(settled_events(service.process, "network_isolation_off", 1)) == 1
    wait_for_log(service.process, "No permissions to create new namespace")


def test_required_bwrap_that_fails_stops_start_up(tmp_path: Path) -> None:
    result = start_until_exit(
        tmp_path, SANDBOX_ISOLATION="bubblewrap", PATH=broken_bwrap_path(tmp_path)
    )
    assert result.returncode == 2
    assert "bwrap does not work" in result.stderr
