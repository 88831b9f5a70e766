"""A client that cancels ExecuteTool (as the planner does when a run is cancelled) ends the
program's whole process tree, detached children included, and its directory is removed."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator

import grpc
import pytest

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from tests.sandbox.conftest import Sandbox, processes_named, running_sandbox, wait_until_gone

# The program re-executes itself with the marker as an argument, then starts a child in a
# session of its own (so killing the program's process group alone would miss it).
PROGRAM = """
import os, subprocess, sys, time
if len(sys.argv) < 2:
    os.execv(sys.executable, [sys.executable, 'main.py', {marker!r}])
child = 'import time; time.sleep(300)'
subprocess.Popen([sys.executable, '-c', child, {marker!r}], start_new_session=True)
open('started', 'w').close()
time.sleep(300)
"""


@pytest.fixture(scope="module")
def rlimits_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """No PID namespace: only the execution's cgroup can find the detached child."""
    with running_sandbox(tmp_path_factory.mktemp("cancel"), SANDBOX_ISOLATION="rlimits") as svc:
        yield svc


@pytest.fixture(params=["bubblewrap", "rlimits"])
def service(request: pytest.FixtureRequest) -> Sandbox:
    name = "sandbox" if request.param == "bubblewrap" else "rlimits_only"
    found: Sandbox = request.getfixturevalue(name)
    return found


def wait_for(probe: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30  # hung, not slow
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"never saw {what}")
        time.sleep(0.05)


def test_cancelled_call_kills_the_process_tree_and_removes_the_directory(
    service: Sandbox,
) -> None:
    sandbox = service
    marker = f"pagi-cancel-{uuid.uuid4().hex}"
    code = PROGRAM.format(marker=marker)
    request = pb.ToolRequest(
        tool_name="execute_code",
        args_json=json.dumps({"language": "python", "code": code}),
        timeout_seconds=60,
    )
    with grpc.insecure_channel(sandbox.address) as channel:
        call = pb_grpc.ToolServiceStub(channel).ExecuteTool.future(request, timeout=90)
        wait_for(lambda: len(processes_named(marker)) >= 2, "the program and its child")
        workspaces = list(sandbox.work_root.iterdir())
        assert workspaces
        assert call.cancel()
    assert wait_until_gone(lambda: processes_named(marker), seconds=20) == []
    assert wait_until_gone(lambda: list(sandbox.work_root.iterdir()), seconds=20) == []
    assert sandbox.run_code("print('still serving')")["stdout"] == "still serving\n"
