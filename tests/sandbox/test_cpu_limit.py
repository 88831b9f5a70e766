"""cpu_limit_mhz is enforced: a busy program gets about its share of one core (cgroup CPU
quota), or at most that share of the timeout in CPU time (rlimit fallback)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

from services.sandbox.cgroups import ExecutionCgroups
from services.sandbox.cpu_limit import nominal_core_mhz
from tests.sandbox.conftest import Sandbox, running_sandbox

# Spins for `wall` seconds of wall time, then prints the CPU seconds it got while spinning
# (not the interpreter's start-up, which is slow on a cold machine and not what is bounded).
SPIN = """
import os, time
wall = {wall}
s = os.times()
end = time.monotonic() + wall
while time.monotonic() < end:
    pass
t = os.times()
print(t.user + t.system - s.user - s.system)
"""
QUARTER_CORE_MHZ = int(nominal_core_mhz() / 4)
# A tenth of a core: small enough that a busy machine still gives an unlimited spinner
# several times more, so the comparison below shows the quota and not the machine's load.
TENTH_CORE_MHZ = int(nominal_core_mhz() / 10)


def cgroups_writable() -> bool:
    groups = ExecutionCgroups.detect()
    if groups is not None:
        groups.remove()
    return groups is not None and "cpu" in groups.parents


needs_cgroups = pytest.mark.skipif(
    not cgroups_writable(), reason="no writable cgroup cpu controller on this machine"
)


def cpu_seconds_used(sandbox: Sandbox, wall: float, **limits: int) -> float:
    settings: dict[str, Any] = {"timeout_seconds": 10, **limits}
    result = sandbox.run_code(SPIN.format(wall=wall), **settings)
    assert result["status"] == "ok", result
    return float(result["stdout"].strip())


@needs_cgroups
def test_a_tenth_of_a_core_limit_throttles_a_busy_program(sandbox: Sandbox) -> None:
    unlimited = cpu_seconds_used(sandbox, 1.5)
    limited = cpu_seconds_used(sandbox, 1.5, cpu_limit_mhz=TENTH_CORE_MHZ)
    assert limited <= 1.5 * 0.1 * 1.4, f"limited run got {limited:.2f} CPU s in 1.5 s"
    assert limited < unlimited / 2, (limited, unlimited)


@needs_cgroups
def test_the_limit_applies_to_every_process_of_the_tree(sandbox: Sandbox) -> None:
    code = SPIN.replace("import os, time", "import os, time\nchild = os.fork()")
    code += "\nif child:\n    os.waitpid(child, 0)\n"
    result = sandbox.run_code(
        code.format(wall=1.5), timeout_seconds=10, cpu_limit_mhz=QUARTER_CORE_MHZ
    )
    assert result["status"] == "ok", result
    both = sum(float(line) for line in result["stdout"].split())
    assert both <= 1.5 * 0.25 * 1.4, f"parent and child got {both:.2f} CPU s together"


def test_the_response_says_how_the_limit_was_applied(sandbox: Sandbox) -> None:
    result = sandbox.run_code("print(1)", cpu_limit_mhz=QUARTER_CORE_MHZ)
    assert result["limits"]["cpu_limit_mhz"] == QUARTER_CORE_MHZ
    assert 0.2 <= result["limits"]["cpu_share_of_one_core"] <= 0.3
    notes = " ".join(result["execution_environment"]["notes"])
    assert f"cpu_limit_mhz {QUARTER_CORE_MHZ}" in notes and "advisory" not in notes
    health = httpx.get(sandbox.url + "/health", timeout=5).json()
    mechanism = health["protections"]["cpu_limit"]
    assert mechanism.startswith(("cgroup v1", "cgroup v2", "CPU-time rlimit"))
    assert mechanism in notes


def test_a_negative_cpu_limit_is_rejected(sandbox: Sandbox) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        sandbox.run_code("print(1)", cpu_limit_mhz=-5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cpu_limit_mhz" in (caught.value.details() or "")


@pytest.fixture(scope="module")
def without_cgroups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox that cannot reach the cgroup tree: the rlimit fallback must hold the line."""
    with running_sandbox(
        tmp_path_factory.mktemp("no-cgroups"), SANDBOX_CGROUP_ROOT="/nonexistent"
    ) as service:
        yield service


def test_without_cgroups_cpu_time_is_capped_at_the_share_of_the_timeout(
    without_cgroups: Sandbox,
) -> None:
    health = httpx.get(without_cgroups.url + "/health", timeout=5).json()
    assert health["protections"]["cpu_limit"] == "CPU-time rlimit per process"
    # A fortieth of a core over a 40 s timeout: one CPU second, then SIGXCPU ends the
    # program, long before the timeout even on a busy machine.
    result = without_cgroups.run_code(
        "while True: pass", timeout_seconds=40, cpu_limit_mhz=int(nominal_core_mhz() / 40)
    )
    assert result["status"] == "runtime_error", json.dumps(result)[:500]
    assert result["exit_code"] != 0
    assert "CPU-time rlimit per process" in " ".join(result["execution_environment"]["notes"])
