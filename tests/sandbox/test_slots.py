"""The concurrency cap, seen from outside: at most N executions overlap, and a request that
cannot get a slot within its timeout is refused (RESOURCE_EXHAUSTED / HTTP 429)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import pytest

from tests.sandbox.conftest import Sandbox, running_sandbox
from tests.support.polling import wait_until

CAP = 2
# Each program runs long enough that the two slots' programs overlap even when starting a
# sandboxed process is slow on a busy machine.
TIMED_CODE = "import time\nstart = time.time()\ntime.sleep(1.0)\nprint(start, time.time())\n"


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with running_sandbox(
        tmp_path_factory.mktemp("capped"), SANDBOX_MAX_CONCURRENCY=str(CAP)
    ) as service:
        yield service


def most_overlapping(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, change in edges:
        running += change
        peak = max(peak, running)
    return peak


def test_twenty_parallel_executions_respect_the_cap(capped: Sandbox) -> None:
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(
            pool.map(lambda _: capped.run_code(TIMED_CODE, timeout_seconds=30), range(20))
        )
    assert [r["status"] for r in results] == ["ok"] * 20
    intervals = [(float(r["stdout"].split()[0]), float(r["stdout"].split()[1])) for r in results]
    assert most_overlapping(intervals) == CAP  # the cap holds, and slots are really used


HOLD_UNTIL_RELEASED = (
    "import os, time\n"
    "while not os.path.exists('release'):\n"
    "    time.sleep(0.05)\n"
    "print('released')\n"
)


def executions_running(service: Sandbox) -> int:
    return int(httpx.get(service.url + "/health", timeout=10).json()["executions_running"])


def release_held_executions(service: Sandbox) -> None:
    """Each held program waits for a file named release in its working directory."""
    for workspace in service.work_root.iterdir():
        (workspace / "work" / "release").write_text("go")


def test_a_request_that_cannot_get_a_slot_is_refused(capped: Sandbox) -> None:
    with ThreadPoolExecutor(max_workers=CAP) as pool:
        held = [
            pool.submit(capped.run_code, HOLD_UNTIL_RELEASED, timeout_seconds=60)
            for _ in range(CAP)
        ]
        wait_until(lambda: executions_running(capped) == CAP, "both slots taken")
        with pytest.raises(grpc.RpcError) as caught:
            capped.run_code("print('late')", timeout_seconds=1)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert caught.value.details() == f"all {CAP} execution slots stayed busy for 1s"
        over_http = capped.http_tool(
            {"tool_name": "execute_code", "args": {"code": "pass"}, "timeout_seconds": 1}
        )
        assert over_http.status_code == 429
        assert over_http.json()["error"] == f"all {CAP} execution slots stayed busy for 1s"
        assert executions_running(capped) == CAP  # the refused calls ran nothing
        release_held_executions(capped)
        results = [future.result() for future in held]
    assert [(r["status"], r["stdout"]) for r in results] == [("ok", "released\n")] * CAP
    assert executions_running(capped) == 0
    assert capped.run_code("print('free again')")["status"] == "ok"


def test_work_root_is_left_empty(capped: Sandbox) -> None:
    assert list(Path(capped.work_root).iterdir()) == []
