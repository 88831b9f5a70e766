"""Without bubblewrap (SANDBOX_ISOLATION=rlimits) the rlimits still hold, and the service
says once that network isolation is off."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.sandbox.conftest import SERVICE_SECRET, Sandbox, sandbox_process


@pytest.fixture(scope="module")
def rlimits_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    service = sandbox_process(tmp_path_factory.mktemp("rlimits"), SANDBOX_ISOLATION="rlimits")
    service.process.start(timeout=60)
    yield service
    service.process.stop()


def warnings_logged(service: Sandbox, event: str) -> int:
    count = 0
    for line in service.process.log().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        count += isinstance(record, dict) and record.get("event") == event
    return count


def test_rlimits_mode_runs_code_with_limits(rlimits_only: Sandbox) -> None:
    hello = rlimits_only.run_code("print('hello')")
    assert hello["status"] == "ok"
    assert hello["execution_environment"]["used"] == "rlimits"
    big = rlimits_only.run_code("x = bytearray(1024 ** 3)", memory_limit_mb=128)
    assert big["status"] == "runtime_error"
    assert "MemoryError" in big["stderr"]
    started = time.monotonic()
    assert rlimits_only.run_code("while True: pass", timeout_seconds=1)["status"] == "timeout"
    assert time.monotonic() - started < 2.0
    env = rlimits_only.run_code("import os; print(dict(os.environ))")
    assert SERVICE_SECRET not in env["stdout"]
    assert "OPENAI_API_KEY" not in env["stdout"]


def test_rlimits_mode_warns_once(rlimits_only: Sandbox) -> None:
    rlimits_only.run_code("pass")
    rlimits_only.run_code("pass")
    assert warnings_logged(rlimits_only, "network_isolation_off") == 1
    health = rlimits_only.http_tool({"tool_name": "demo"})
    assert health.status_code == 200


def test_bubblewrap_mode_does_not_warn(sandbox: Sandbox) -> None:
    if sandbox.run_code("pass")["execution_environment"]["used"] != "bubblewrap":
        pytest.skip("bwrap is not installed")
    assert warnings_logged(sandbox, "network_isolation_off") == 0
