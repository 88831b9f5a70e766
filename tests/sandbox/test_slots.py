"""The concurrency cap, seen from outside: at most N executions overlap, and a request that
cannot get a slot within its timeout is refused (RESOURCE_EXHAUSTED / HTTP 429)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from tests.sandbox.conftest import Sandbox, running_sandbox

CAP = 2
TIMED_CODE = "import time\nstart = time.time()\ntime.sleep(0.3)\nprint(start, time.time())\n"


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


def test_a_request_that_cannot_get_a_slot_is_refused(capped: Sandbox) -> None:
    blockers = [
        threading.Thread(
            target=capped.run_code,
            args=("import time; time.sleep(4)",),
            kwargs={"timeout_seconds": 10},
        )
        for _ in range(CAP)
    ]
    for thread in blockers:
        thread.start()
    time.sleep(1.0)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        capped.run_code("print('late')", timeout_seconds=1)
    waited = time.monotonic() - started
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert 0.9 <= waited < 2.0
    over_http = capped.http_tool(
        {"tool_name": "execute_code", "args": {"code": "pass"}, "timeout_seconds": 1}
    )
    assert over_http.status_code == 429
    assert "slots" in over_http.json()["error"]
    for thread in blockers:
        thread.join()
    assert capped.run_code("print('free again')")["status"] == "ok"


def test_work_root_is_left_empty(capped: Sandbox) -> None:
    assert list(Path(capped.work_root).iterdir()) == []
