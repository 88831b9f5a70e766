"""Execution directories: removed whatever the program left (any depth, any width,
unreadable entries), removal never blocks the service, and leftovers of a killed service are
swept at start-up."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.sandbox.tree_removal import remove_tree
from tests.sandbox.conftest import Sandbox, running_sandbox, sandbox_user_processes
from tests.support.logs import wait_for_log
from tests.support.polling import wait_until

DEPTH = 1_200
# 1,200 levels of a 100-character name: far past PATH_MAX, so no full path can be used.
DEEP_TREE = f"""
import os
os.makedirs('/tmp/x', exist_ok=True)
for n in range({DEPTH}):
    os.mkdir('d' * 100)
    os.chdir('d' * 100)
    open('f', 'w').close()
print('made')
"""


def make_deep_tree(root: Path, depth: int) -> None:
    """Like a program would: each level holds a file and the next level, and some levels
    are made unreadable (mode 000)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for level in range(depth):
        name = "d" * 100
        os.mkdir(name, dir_fd=fd)
        os.close(os.open("f", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
        child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        if level % 100 == 0:
            os.chmod(name, 0, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)


def test_removes_a_tree_deeper_than_the_recursion_limit_and_path_max(tmp_path: Path) -> None:
    root = tmp_path / "deep"
    root.mkdir()
    make_deep_tree(root, DEPTH)
    (root / "wide").mkdir()
    for n in range(2_000):
        (root / "wide" / f"sub{n}").mkdir()
    os.symlink("/etc", root / "link-out")
    assert remove_tree(str(root)) is True
    assert not root.exists()
    assert Path("/etc/passwd").exists()  # the symlink was removed, not followed


def test_a_tree_that_cannot_be_removed_is_reported_not_raised(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("x")
    assert remove_tree(str(not_a_directory)) is False
    assert remove_tree(str(tmp_path / "missing")) is True


def test_a_program_leaving_a_1200_level_tree_gets_its_result(sandbox: Sandbox) -> None:
    result = sandbox.run_code(DEEP_TREE, timeout_seconds=60)
    assert result["status"] == "ok", result
    assert result["stdout"] == "made\n"
    assert list(sandbox.work_root.iterdir()) == []


@pytest.fixture(scope="module")
def plain_directories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """No tmpfs quota: clean-up walks the tree file by file, on the host's disk. Each line
    is written at once (LOG_FLUSH_MS=0): the tests read from the log what has happened so
    far, in order, and a line waiting for its batch would read as not happened yet."""
    with running_sandbox(
        tmp_path_factory.mktemp("plain"),
        SANDBOX_DISK_QUOTA="off",
        LOG_LEVEL="DEBUG",
        LOG_FLUSH_MS="0",
    ) as service:
        yield service


def removal_events(log: str, event: str) -> list[str]:
    return re.findall(rf'"path": "([^"]+)", [^\n]*"event": "{event}"', log)


def test_health_answers_while_a_huge_tree_is_being_removed(plain_directories: Sandbox) -> None:
    service = plain_directories
    assert service.run_code("print(1)")["status"] == "ok"
    before = len(removal_events(service.process.log(), "workspace_removal_started"))
    code = "for n in range(100_000):\n    open(f'f{n}', 'w').close()\nprint('done')"
    replies: list[dict[str, object]] = []
    call = threading.Thread(
        target=lambda: replies.append(service.run_code(code, timeout_seconds=60))
    )
    call.start()
    try:
        started = wait_for_new_event(service, "workspace_removal_started", before)
        assert httpx.get(service.url + "/health", timeout=10).status_code == 200
        # Ordering, not timing: /health answered before this removal finished.
        assert started not in removal_events(service.process.log(), "workspace_removed")
    finally:
        call.join(120)
    assert replies and replies[0]["status"] == "ok", replies
    wait_until(
        lambda: started in removal_events(service.process.log(), "workspace_removed"),
        "the workspace's removal logged",
    )
    assert not Path(started).exists()


def wait_for_new_event(service: Sandbox, event: str, seen: int) -> str:
    deadline = time.monotonic() + 90  # hung, not slow
    while time.monotonic() < deadline:
        found = removal_events(service.process.log(), event)
        if len(found) > seen:
            return found[seen]
        time.sleep(0.02)
    raise AssertionError(f"no new {event} in the log")


def test_leftovers_of_a_killed_service_are_swept_at_start_up(tmp_path: Path) -> None:
    with running_sandbox(tmp_path) as first:
        reply: list[object] = []
        sleeper = "import time\nopen('/tmp/marker', 'w').close()\ntime.sleep(60)"
        call = threading.Thread(target=lambda: reply.append(_quietly(first, sleeper)))
        call.start()
        leftovers = wait_for_workspace(first.work_root)
        first.process.kill()
        call.join(30)
        assert all(path.exists() for path in leftovers)
        orphan = first.work_root / "sandbox-4194304999-manual"
        orphan.mkdir()
        make_deep_tree(orphan, DEPTH)
        foreign = first.work_root / f"sandbox-{os.getpid()}-alive"
        foreign.mkdir()
    with running_sandbox(tmp_path) as second:
        assert second.healthy()
        deadline = time.monotonic() + 60
        while (orphan.exists() or any(p.exists() for p in leftovers)) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.1)
        assert not orphan.exists()
        assert not any(path.exists() for path in leftovers)
        assert foreign.exists()  # its owner (this test) is alive
        wait_for_log(second.process, "leftover_workspaces_swept")
    assert sandbox_user_processes() == []


def wait_for_workspace(root: Path) -> list[Path]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [path for path in root.iterdir() if (path / "tmp" / "marker").exists()]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no execution directory appeared in {root}")


def _quietly(service: Sandbox, code: str) -> object:
    try:
        return service.run_code(code, timeout_seconds=60)
    except Exception as exc:  # the service is killed under it: the call fails, as it must
        return exc
