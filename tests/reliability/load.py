"""Drive /plan traffic for the reliability tests: a fixed batch at some concurrency, or a
background load that runs until stopped; every outcome is recorded with its trace id."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.core_services import PlannerClient
from tests.support.polling import wait_until

HELLO = "Say hello"


@dataclass(frozen=True)
class PlanCall:
    prompt: str
    session_id: str
    trace_id: str


@dataclass(frozen=True)
class PlanOutcome:
    call: PlanCall
    started: float  # time.monotonic() when sent
    elapsed: float
    status: int | None  # None: no HTTP answer (timeout or connection error)
    body: dict[str, Any]
    error: str = ""

    @property
    def answered(self) -> bool:
        return self.status is not None


def new_call(prompt: str = HELLO, session_id: str | None = None) -> PlanCall:
    return PlanCall(prompt, session_id or f"s-{uuid.uuid4().hex}", str(uuid.uuid4()))


def send_plan(client: httpx.Client, planner: PlannerClient, call: PlanCall) -> PlanOutcome:
    """POST /plan; the client's timeout bounds how long we wait."""
    body = {"prompt": call.prompt, "session_id": call.session_id, "resources": []}
    headers = planner.headers(**{"X-Trace-ID": call.trace_id})
    started = time.monotonic()
    try:
        reply = client.post(f"{planner.url}/plan", json=body, headers=headers)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
        return PlanOutcome(call, started, time.monotonic() - started, None, {}, error)
    elapsed = time.monotonic() - started
    try:
        parsed = reply.json()
    except ValueError:
        parsed = {"raw": reply.text}
    return PlanOutcome(call, started, elapsed, reply.status_code, parsed)


def run_batch(
    planner: PlannerClient, calls: list[PlanCall], concurrency: int, timeout: float
) -> list[PlanOutcome]:
    """Send every call with `concurrency` clients in parallel; outcomes in call order."""
    limits = httpx.Limits(max_connections=concurrency)
    with (
        httpx.Client(timeout=timeout, limits=limits) as client,
        ThreadPoolExecutor(concurrency) as pool,
    ):
        return list(pool.map(lambda call: send_plan(client, planner, call), calls))


class BackgroundLoad:
    """`workers` threads sending hello /plan calls back to back (new session each) until
    stop(); use as a context manager."""

    def __init__(self, planner: PlannerClient, workers: int, timeout: float) -> None:
        self.planner = planner
        self.outcomes: list[PlanOutcome] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._client = httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=workers))
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]

    def _work(self) -> None:
        while not self._stopping.is_set():
            outcome = send_plan(self._client, self.planner, new_call())
            with self._lock:
                self.outcomes.append(outcome)

    def snapshot(self) -> list[PlanOutcome]:
        with self._lock:
            return list(self.outcomes)

    def wait_for_count(self, count: int) -> None:
        wait_until(lambda: len(self.snapshot()) >= count, f"{count} calls answered")

    def wait_for_sent_since(self, since: float, count: int) -> None:
        """Until `count` calls sent at or after `since` (time.monotonic()) have finished."""
        wait_until(
            lambda: sum(o.started >= since for o in self.snapshot()) >= count,
            f"{count} calls sent and finished since {since:.1f}",
        )

    def __enter__(self) -> BackgroundLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()
        self._client.close()


def audit_events(audit_db: Path, trace_ids: Iterable[str]) -> dict[str, list[str]]:
    """Event types per trace id, in insertion order, read straight from the audit SQLite."""
    wanted = set(trace_ids)
    events: dict[str, list[str]] = defaultdict(list)
    with sqlite3.connect(f"file:{audit_db}?mode=ro", uri=True) as db:
        for trace_id, event_type in db.execute(
            "SELECT trace_id, event_type FROM audit_log ORDER BY id"
        ):
            if trace_id in wanted:
                events[trace_id].append(event_type)
    return {trace_id: events.get(trace_id, []) for trace_id in wanted}


def interleaved_calls(sessions: int, per_session: int) -> list[PlanCall]:
    """per_session hello calls for each of `sessions` sessions, round robin."""
    session_ids = [f"load-{n}-{uuid.uuid4().hex[:8]}" for n in range(sessions)]
    return [
        new_call(f"Say hello #{round_}", session_id)
        for round_, session_id in itertools.product(range(per_session), session_ids)
    ]
