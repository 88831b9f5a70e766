"""The bounded worker pool runs execute on: at most `workers` at once, at most `queue_size`
waiting (beyond that POST /runs answers 429), cancellation of queued and in-flight runs, and
a clean ending for every run when the process stops or was found dead."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from services.agent_planner.runs.executor import QueuedRun, RunExecutor
from services.agent_planner.runs.metrics import RUN_QUEUE_DEPTH, RUNS_IN_FLIGHT
from services.agent_planner.runs.records import NewRun, RunEnding, RunStatus
from services.kit.logs import get_logger

log = get_logger("run_pool")
CANCEL_WAIT_SECONDS = 10.0
CANCELLED = RunEnding(RunStatus.CANCELLED, reason="cancelled")
STOPPED = RunEnding(
    RunStatus.FAILED, error="the planner stopped before the run ended", reason="planner_stopped"
)


class QueueFullError(Exception):
    """The pool holds as many runs as it may; the caller should retry later."""


@dataclass
class Execution:
    queued: QueuedRun
    task: asyncio.Task[RunEnding | None]
    done: asyncio.Event


class RunPool:
    def __init__(self, executor: RunExecutor, workers: int, queue_size: int) -> None:
        self.executor = executor
        self.workers = workers
        self.queue_size = queue_size
        self._queue: asyncio.Queue[QueuedRun] = asyncio.Queue()
        self._waiting: dict[str, QueuedRun] = {}
        self._running: dict[str, Execution] = {}
        self._reserved = 0
        self._claimed = 0  # idle workers promised to runs being created as running
        self._stopping = False
        self._workers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"run-worker-{n}") for n in range(self.workers)
        ]

    @contextlib.contextmanager
    def admission(self) -> Iterator[None]:
        """Hold a place for one run while it is being created; QueueFullError when full."""
        if self._stopping or self.accepted() >= self.workers + self.queue_size:
            raise QueueFullError
        self._reserved += 1
        try:
            yield
        finally:
            self._reserved -= 1

    def accepted(self) -> int:
        return len(self._waiting) + len(self._running) + self._reserved

    def claim_worker(self) -> bool:
        """Promise an idle worker to a run about to be stored as running and submitted with
        claimed=True (release_claim if that fails); False when none is idle."""
        busy = len(self._running) + len(self._waiting) + self._claimed
        if self._stopping or busy >= self.workers:
            return False
        self._claimed += 1
        return True

    def release_claim(self) -> None:
        self._claimed -= 1

    def submit(self, queued: QueuedRun, claimed: bool = False) -> None:
        """Queue a run already stored (call inside `admission`)."""
        if claimed:
            self.release_claim()
        self._waiting[queued.run.run_id] = queued
        self._queue.put_nowait(queued)
        RUN_QUEUE_DEPTH.set(len(self._waiting))

    def owns(self, run_id: str) -> bool:
        return run_id in self._waiting or run_id in self._running

    def owned_ids(self) -> list[str]:
        """Runs this process holds: waiting in its queue or running."""
        return [*self._waiting, *self._running]

    async def cancel(self, run_id: str) -> bool:
        """Cancel a run this process holds and wait for it to end; False when not held."""
        queued = self._waiting.pop(run_id, None)
        if queued is not None:
            RUN_QUEUE_DEPTH.set(len(self._waiting))
            await self.executor.end(queued.run, CANCELLED)
            return True
        execution = self._running.get(run_id)
        if execution is None:
            return False
        execution.task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(execution.done.wait(), CANCEL_WAIT_SECONDS)
        return True

    def cancel_soon(self, run_id: str) -> None:
        """Cancel on another process's request (the hub calls this)."""
        if self.owns(run_id):
            asyncio.get_running_loop().create_task(self.cancel(run_id))

    async def close(self) -> None:
        """Stop taking runs; end every waiting and in-flight run as planner_stopped."""
        self._stopping = True
        for execution in list(self._running.values()):
            execution.task.cancel()
        for execution in list(self._running.values()):
            await execution.done.wait()
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        for queued in list(self._waiting.values()):
            await self.executor.end(queued.run, STOPPED)
        self._waiting.clear()

    async def _work(self) -> None:
        while True:
            queued = await self._queue.get()
            if self._waiting.pop(queued.run.run_id, None) is None:
                continue  # cancelled while it waited
            RUN_QUEUE_DEPTH.set(len(self._waiting))
            await self._execute(queued)

    async def _execute(self, queued: QueuedRun) -> None:
        run = queued.run
        task = asyncio.create_task(self.executor.execute(queued), name=f"run-{run.run_id}")
        execution = Execution(queued, task, asyncio.Event())
        self._running[run.run_id] = execution
        RUNS_IN_FLIGHT.inc()
        try:
            ending = await self._outcome(run, task)
            if ending is not None:
                await self.executor.end(run, ending)
        finally:
            if self._running.get(run.run_id) is execution:  # not yet the run's next turn
                del self._running[run.run_id]
            RUNS_IN_FLIGHT.dec()
            execution.done.set()

    async def _outcome(self, run: NewRun, task: asyncio.Task[RunEnding | None]) -> RunEnding | None:
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the worker itself is being stopped
            log.info("run_cancelled", run_id=run.run_id, stopping=self._stopping)
            return STOPPED if self._stopping else CANCELLED
