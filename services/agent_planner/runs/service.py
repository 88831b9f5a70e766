"""RunService: what the routes ask of runs — start one, read and list them, follow their
events, cancel — over the store, the pool and the hub."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from services.agent_planner.approval import ApprovalPolicy
from services.agent_planner.audit import utc_timestamp
from services.agent_planner.metrics import tracer
from services.agent_planner.runs.approvals import ApprovalDesk, Decision
from services.agent_planner.runs.executor import QueuedRun, RunExecutor
from services.agent_planner.runs.hub import RunEventHub
from services.agent_planner.runs.pool import CANCELLED, RunPool
from services.agent_planner.runs.records import (
    NewRun,
    RunEnding,
    RunEvent,
    RunRecord,
    RunStatus,
)
from services.agent_planner.runs.store import RunQuery, RunStore
from services.agent_planner.runs.stream import RunStreamer
from services.agent_planner.validation import PlanRequest
from services.kit.logs import get_logger
from services.kit.trace import current_trace_id, new_trace_id

log = get_logger("runs")
ABANDONED = RunEnding(
    RunStatus.FAILED,
    error="the planner executing this run stopped before it ended",
    reason="planner_restarted",
)


class RunNotFound(Exception):
    pass


class RunAlreadyFinished(Exception):
    def __init__(self, record: RunRecord) -> None:
        super().__init__(record.status.value)
        self.record = record


@dataclass(frozen=True)
class CancelAnswer:
    record: RunRecord
    accepted_elsewhere: bool = False  # another process executes it and was asked to stop


class RunService:
    def __init__(
        self,
        store: RunStore,
        hub: RunEventHub,
        pool: RunPool,
        executor: RunExecutor,
        streamer: RunStreamer,
        desk: ApprovalDesk,
        resume_on_start: bool,
    ) -> None:
        self.store = store
        self.hub = hub
        self.pool = pool
        self.executor = executor
        self.streamer = streamer
        self.desk = desk
        self.resume_on_start = resume_on_start

    def approval_for(self, request: PlanRequest) -> ApprovalPolicy:
        """The request's approval added to the server's (which it can never lower)."""
        return self.executor.approval.policy.union(request.approval)

    async def start(self, request: PlanRequest) -> RunRecord:
        """Store a new queued run and hand it to the pool; QueueFullError when full. The
        run's own span (in the worker) links to the StartRun span of this request."""
        return (await self._create(request, start_now=False))[0]

    async def start_streamed(self, request: PlanRequest) -> tuple[RunRecord, AsyncIterator[bytes]]:
        """Start a run as `start` does, with all its events as a stream (those this request
        just stored are handed over without reading them back). With a worker idle the run
        is stored as running at once, its run.started event in the same write."""
        record, stored = await self._create(request, start_now=True)
        stream = self.streamer.follow(
            record.run_id, 0, known_open=True, first=stored, local=self.pool.owns(record.run_id)
        )
        return record, stream

    async def _create(
        self, request: PlanRequest, start_now: bool
    ) -> tuple[RunRecord, list[RunEvent]]:
        with self.pool.admission(), tracer.start_as_current_span("StartRun") as span:
            run = NewRun(
                run_id=f"run_{uuid.uuid4().hex}",
                session_id=request.session_id,
                trace_id=current_trace_id() or new_trace_id(),
                prompt=request.prompt,
                resources=[r.as_json() for r in request.resources],
                approval=tuple(self.approval_for(request).as_list()),
                knowledge=request.knowledge,
            )
            span.set_attribute("run_id", run.run_id)
            created_at = utc_timestamp()
            claimed = start_now and self.pool.claim_worker()
            try:
                stored = await self._store_new(run, created_at, claimed)
            except BaseException:
                if claimed:
                    self.pool.release_claim()
                raise
            for event in stored:
                self.hub.announce(event)
            link = span.get_span_context()
            queued = QueuedRun(run, time.time(), link if link.is_valid else None, started=claimed)
            self.pool.submit(queued, claimed=claimed)
        log.info("run_queued", run_id=run.run_id, session_id=run.session_id, started=claimed)
        record = RunRecord(
            run.run_id,
            run.session_id,
            run.trace_id,
            RunStatus.RUNNING if claimed else RunStatus.QUEUED,
            run.prompt,
            run.resources,
            created_at,
            started_at=created_at if claimed else None,
            knowledge=run.knowledge,
        )
        return record, stored

    async def _store_new(self, run: NewRun, created_at: str, started: bool) -> list[RunEvent]:
        if started:
            owner = self.executor.owner
            return list(await self.store.create_started_run(run, created_at, owner))
        return [await self.store.create_run(run, created_at)]

    async def get(self, run_id: str) -> RunRecord:
        record = await self.store.get_run(run_id)
        if record is None:
            raise RunNotFound(run_id)
        return record

    async def describe(self, run_id: str) -> dict[str, Any]:
        """GET /runs/{id}: the record, and while it waits for a reviewer the waiting call
        (`pending_approval`), so a client needs no event stream to decide it."""
        record = await self.get(run_id)
        described = record.as_json()
        if record.status is RunStatus.WAITING_APPROVAL:
            described["pending_approval"] = await self.waiting_call(run_id)
        return described

    async def waiting_call(self, run_id: str) -> dict[str, Any] | None:
        """The call the run waits on a reviewer for, None when it waits for none."""
        return await self.desk.checkpoints.waiting_call(run_id)

    async def list(self, query: RunQuery) -> list[RunRecord]:
        return await self.store.list_runs(query)

    async def events(self, run_id: str, after: int) -> AsyncIterator[bytes]:
        """RunNotFound before the first byte when the run does not exist."""
        await self.get(run_id)
        return self.streamer.follow(run_id, after, local=self.pool.owns(run_id))

    async def settled(self, run_id: str) -> RunRecord:
        """The run once it has ended or waits for a reviewer."""
        return await self.streamer.settled(run_id, local=self.pool.owns(run_id))

    async def decide(self, run_id: str, decision: Decision) -> RunRecord:
        """RunNotFound, ApprovalConflict or QueueFullError when the decision is refused."""
        await self.desk.decide(await self.get(run_id), decision)
        return await self.get(run_id)

    async def cancel(self, run_id: str) -> CancelAnswer:
        record = await self.get(run_id)
        if record.status.terminal:
            return self._already_ended(record)
        if record.status is RunStatus.WAITING_APPROVAL:  # no process holds it: end it here
            await self.executor.end(record.new_run(), CANCELLED)
            return await self.cancel(run_id)
        if await self.pool.cancel(run_id):
            return CancelAnswer(await self.get(run_id))
        record = await self.get(run_id)
        if record.status.terminal:
            return self._already_ended(record)
        self.hub.request_cancel(run_id)
        return CancelAnswer(record, accepted_elsewhere=True)

    async def abandon_unfinished(self, heartbeat_before: float) -> int:
        """Resume (AGENT_RESUME_ON_START) or end the runs a process that is gone left queued
        or running; runs waiting for a reviewer belong to no process and stay as they are."""
        stale = await self.store.stale_runs(heartbeat_before)
        resumed = 0
        for record in stale:
            if not self.resume_on_start:
                await self.executor.end(record.new_run(), ABANDONED)
            elif await self._take_over(record, heartbeat_before):
                resumed += 1
        if resumed:
            log.warning("runs_resumed", count=resumed, reason="planner_restarted")
        elif stale and not self.resume_on_start:
            log.warning("runs_abandoned", count=len(stale), reason="planner_restarted")
        return len(stale)

    async def _take_over(self, record: RunRecord, heartbeat_before: float) -> bool:
        """Queue here, from its checkpoint, a run a dead process held; False when another
        process took it first."""
        if not await self.desk.checkpoints.resume(record.run_id, self.desk.owner, heartbeat_before):
            return False
        self.pool.submit(QueuedRun(record.new_run(), time.time(), resume=True))
        return True

    @staticmethod
    def _already_ended(record: RunRecord) -> CancelAnswer:
        if record.status is RunStatus.CANCELLED:
            return CancelAnswer(record)  # cancelling twice is fine
        raise RunAlreadyFinished(record)
