"""Limits hold per execution, for the whole process tree, and a program stopped by one gets
a status naming it: memory_exceeded, process_limit, disk_exceeded."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import httpx
import pytest

from services.sandbox.cgroups import ExecutionCgroups
from tests.sandbox.conftest import Sandbox, running_as_root, running_sandbox


def cgroups_writable() -> bool:
    groups = ExecutionCgroups.detect()
    if groups is not None:
        groups.remove()
    return groups is not None


needs_cgroups = pytest.mark.skipif(
    not cgroups_writable(), reason="no writable cgroup memory and pids controllers"
)
needs_root = pytest.mark.skipif(not running_as_root, reason="tmpfs quotas need root")

# Eight children of 200 MB each: every one fits a 256 MB per-process limit, together they
# do not fit a 256 MB limit for the execution.
FORKED_MEMORY = """
import os, time
children = []
for n in range(8):
    pid = os.fork()
    if pid == 0:
        block = b'x' * (200 * 1024 * 1024)
        time.sleep(3)
        os._exit(0)
    children.append(pid)
failed = [os.waitpid(pid, 0)[1] for pid in children]
print('child statuses', failed)
raise SystemExit(1 if any(failed) else 0)
"""
FORK_UNTIL_REFUSED = """
import os, time
made = 0
while made < 1000:
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    made += 1
"""
FILL_DISK = """
chunk = b'0' * (8 * 1024 * 1024)
for n in range(96):
    with open(f'part{n}', 'wb') as out:
        out.write(chunk)
"""
MANY_FILES = """
for n in range(300_000):
    open(f'/tmp/f{n}', 'w').close()
"""


@needs_cgroups
def test_memory_is_limited_for_the_whole_process_tree(sandbox: Sandbox) -> None:
    result = sandbox.run_code(FORKED_MEMORY, memory_limit_mb=256, timeout_seconds=30)
    assert result["status"] == "memory_exceeded", result
    assert result["protections"]["memory_limit"].startswith("cgroup v")
    assert result["protections"]["memory_limit"].endswith("whole process tree with swap off")


@needs_cgroups
def test_too_many_processes_is_reported_as_process_limit(sandbox: Sandbox) -> None:
    result = sandbox.run_code(FORK_UNTIL_REFUSED, timeout_seconds=30)
    assert result["status"] == "process_limit", result
    assert "BlockingIOError" in result["stderr"]
    assert "whole execution" in result["protections"]["process_limit"]


@needs_root
def test_the_working_directory_has_a_byte_quota(sandbox: Sandbox) -> None:
    result = sandbox.run_code(FILL_DISK, timeout_seconds=30)
    assert result["status"] == "disk_exceeded", result
    assert "No space left on device" in result["stderr"]
    assert list(sandbox.work_root.iterdir()) == []


@needs_root
def test_the_execution_has_an_inode_quota(sandbox: Sandbox) -> None:
    result = sandbox.run_code(MANY_FILES, timeout_seconds=60)
    assert result["status"] == "disk_exceeded", result
    assert result["protections"]["disk_quota"].startswith("tmpfs 64 MiB")


def test_a_program_within_its_limits_is_ok(sandbox: Sandbox) -> None:
    code = "import os\nopen('a', 'w').write('x' * 1000)\nprint(os.path.getsize('a'))"
    result = sandbox.run_code(code, memory_limit_mb=64)
    assert result["status"] == "ok", result
    assert result["stdout"] == "1000\n"


# Allocates 200 MB, says so, then holds it until the test releases it.
HOLD_200_MB = """
import os, time
block = b'x' * (200 * 1024 * 1024)
open('allocated', 'w').close()
while not os.path.exists('release'):
    time.sleep(0.05)
print('held')
"""


@pytest.fixture(scope="module")
def small_total(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with running_sandbox(
        tmp_path_factory.mktemp("total"), SANDBOX_TOTAL_MEMORY_MB="300", SANDBOX_MAX_CONCURRENCY="2"
    ) as service:
        yield service


@needs_cgroups
def test_executions_at_once_share_one_memory_ceiling(small_total: Sandbox) -> None:
    """Each of two programs fits its own 256 MB; both together do not fit 300 MB."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        calls = [
            pool.submit(small_total.run_code, HOLD_200_MB, memory_limit_mb=256, timeout_seconds=60)
            for _ in range(2)
        ]
        done, _ = wait(calls, timeout=60, return_when=FIRST_COMPLETED)
        assert done, "neither execution ended: both held 200 MB under a 300 MB ceiling"
        for workspace in small_total.work_root.iterdir():
            with contextlib.suppress(OSError):  # the killed one's may be going away
                (workspace / "work" / "release").write_text("go")
        statuses = sorted(call.result()["status"] for call in calls)
    assert statuses == ["memory_exceeded", "ok"], statuses
    health = httpx.get(small_total.url + "/health", timeout=5).json()
    assert health["protections"]["total_memory"] == "300 MiB for all executions together"
