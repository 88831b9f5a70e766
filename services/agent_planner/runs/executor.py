"""Executes one run: moves it to running, drives the agent loop with a sink that stores and
announces every step, and writes the ending (terminal event, audit rows, notification)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace

from services.agent_planner.approval import ApprovalPolicy
from services.agent_planner.audit import AuditLog
from services.agent_planner.checkpoint import Checkpoint
from services.agent_planner.errors import AgentLoopError
from services.agent_planner.loop import AgentLoop, Run
from services.agent_planner.metrics import tracer
from services.agent_planner.notifications import NotificationPublisher
from services.agent_planner.runs.hub import RunEventHub
from services.agent_planner.runs.metrics import RUN_FIRST_EVENT, RUNS_FINISHED
from services.agent_planner.runs.records import (
    NewEvent,
    NewRun,
    RunEnding,
    RunEvent,
    RunStatus,
)
from services.agent_planner.runs.sql_checkpoints import SqlCheckpointStore
from services.agent_planner.runs.store import RunStore
from services.agent_planner.validation import Resource
from services.kit.logs import get_logger
from services.kit.trace import bind_trace_id

log = get_logger("runs")
# Audit rows written for endings the loop itself does not report.
ENDING_AUDIT = {
    "cancelled": "RUN_CANCELLED",
    "planner_restarted": "RUN_ABANDONED",
    "planner_stopped": "RUN_ABANDONED",
}
NOTIFIED_STATUS = {RunStatus.CANCELLED: "CANCELLED", RunStatus.FAILED: "FAILED"}
# Longest an emitted event waits for the run's next event to share its write (one
# transaction, one wake-up of each reader): a step that follows within it costs no write of
# its own, and readers see a step at most this much later.
LINGER_SECONDS = 0.02


@dataclass(frozen=True)
class QueuedRun:
    """A run waiting for a worker, with the span of the request that started it."""

    run: NewRun
    created: float
    link: trace.SpanContext | None = None
    resume: bool = False  # continue from the run's checkpoint (after a decision or restart)
    started: bool = False  # stored as running with its run.started event already


class HeldEvents:
    """A run's events not stored yet. A held event (EventSink.hold) waits for the run's next
    write; an emitted one also starts a timer that stores it within LINGER_SECONDS when no
    other write of the run comes first. A run's events are written one write at a time, in
    the order they were reported."""

    def __init__(self, write: Callable[[str, list[NewEvent]], Awaitable[None]]) -> None:
        self._write = write
        self._held: dict[str, list[NewEvent]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._flushing: dict[str, asyncio.Task[None]] = {}

    def add(self, run_id: str, event: NewEvent) -> None:
        self._held.setdefault(run_id, []).append(event)

    def linger(self, run_id: str, event: NewEvent) -> None:
        self.add(run_id, event)
        if run_id not in self._timers:
            self._flush_later(run_id)

    async def take(self, run_id: str) -> list[NewEvent]:
        """The run's events not stored yet, once a lingering write of earlier ones is over."""
        timer = self._timers.pop(run_id, None)
        if timer is not None:
            timer.cancel()
        flushing = self._flushing.get(run_id)
        if flushing is not None:
            await asyncio.shield(flushing)
        return self._held.pop(run_id, [])

    def _flush_later(self, run_id: str) -> None:
        loop = asyncio.get_running_loop()
        self._timers[run_id] = loop.call_later(LINGER_SECONDS, self._flush, run_id)

    def _flush(self, run_id: str) -> None:
        if run_id in self._flushing:  # the run's previous write is not over: try again later
            self._flush_later(run_id)
            return
        del self._timers[run_id]
        task = asyncio.create_task(self._write_lingering(run_id), name=f"run-events-{run_id}")
        self._flushing[run_id] = task

    async def _write_lingering(self, run_id: str) -> None:
        events = self._held.pop(run_id, [])
        try:
            await self._write(run_id, events)
        except Exception as exc:  # kept for the run's next write, which reports the failure
            log.warning("run_events_write_failed", run_id=run_id, error=str(exc))
            self._held[run_id] = [*events, *self._held.get(run_id, [])]
        finally:
            del self._flushing[run_id]


class StoreSink:
    """The loop's event sink for a run: events go to the run's HeldEvents, which stores them
    (and wakes the run's readers) with the run's next write or within LINGER_SECONDS."""

    def __init__(self, run_id: str, held: HeldEvents) -> None:
        self.run_id = run_id
        self.held = held

    async def emit(self, event_type: str, data: dict[str, Any]) -> None:
        self.held.linger(self.run_id, (event_type, data))

    def hold(self, event_type: str, data: dict[str, Any]) -> None:
        self.held.add(self.run_id, (event_type, data))


@dataclass(frozen=True)
class ApprovalSettings:
    policy: ApprovalPolicy  # the server's floor
    timeout: float  # seconds a call waits for a reviewer before it is rejected


class StoreCheckpointer:
    """The loop's checkpointer for a run: its checkpoint row, and parking for a reviewer
    (whose event it announces to the run's readers)."""

    def __init__(
        self,
        run_id: str,
        checkpoints: SqlCheckpointStore,
        timeout: float,
        hub: RunEventHub,
        held: HeldEvents,
    ) -> None:
        self.run_id = run_id
        self.checkpoints = checkpoints
        self.timeout = timeout
        self.hub = hub
        self.held = held

    async def save(self, checkpoint: Checkpoint, waiting: bool = False) -> None:
        deadline = time.time() + self.timeout if waiting else None
        held = await self.held.take(self.run_id)
        for event in await self.checkpoints.save(self.run_id, checkpoint, deadline, held):
            self.hub.announce(event)


class RunExecutor:
    def __init__(
        self,
        loop: AgentLoop,
        store: RunStore,
        hub: RunEventHub,
        audit: AuditLog,
        notifications: NotificationPublisher,
        owner: str,
        checkpoints: SqlCheckpointStore,
        approval: ApprovalSettings,
    ) -> None:
        self.loop = loop
        self.store = store
        self.hub = hub
        self.audit = audit
        self.notifications = notifications
        self.owner = owner
        self.checkpoints = checkpoints
        self.approval = approval
        self.held = HeldEvents(self._append)

    async def execute(self, queued: QueuedRun) -> RunEnding | None:
        """Run the loop; None when the run was no longer queued (cancelled while waiting)."""
        run = queued.run
        bind_trace_id(run.trace_id)
        state = await self._run_state(run, queued.resume)
        # A resumed run says so, and from which turn it goes on.
        shown = {"turn": state.turn, "resumed": True} if queued.resume else {"turn": 0}
        if not queued.started:
            started = await self.store.start_run(run.run_id, self.owner, shown)
            if started is None:
                return None
            self.hub.announce(started)
        RUN_FIRST_EVENT.observe(max(time.time() - queued.created, 0.0))
        links = [trace.Link(queued.link)] if queued.link is not None else []
        with tracer.start_as_current_span("AgentRun", links=links) as span:
            span.set_attribute("run_id", run.run_id)
            ending = await self._drive_loop(state)
        if ending is None:  # parked for a reviewer: what it held back is stored now
            await self._store_held(run.run_id)
            self.hub.watch_elsewhere(run.run_id)
        return ending

    async def _run_state(self, run: NewRun, resume: bool) -> Run:
        resources = tuple(Resource(r["type"], r["uri"]) for r in run.resources)
        state = Run(
            run.trace_id,
            run.session_id,
            resources,
            run.prompt,
            run.prompt,
            sink=StoreSink(run.run_id, self.held),
            approval=self.approval.policy.union(ApprovalPolicy.of(run.approval)),
            checkpoints=StoreCheckpointer(
                run.run_id, self.checkpoints, self.approval.timeout, self.hub, self.held
            ),
            knowledge=run.knowledge,
        )
        if resume:
            stored = await self.checkpoints.load(run.run_id)
            state.approval = state.approval.union(ApprovalPolicy.of(stored.approval))
            if stored.checkpoint is not None:
                state.restore(stored.checkpoint)
                log.info("run_resumed", run_id=run.run_id, turn=state.turn)
        return state

    async def _drive_loop(self, state: Run) -> RunEnding | None:
        """The ending; None when the run is parked waiting for a reviewer."""
        try:
            outcome = await self.loop.execute(state)
        except AgentLoopError as exc:
            return RunEnding(RunStatus.FAILED, error=str(exc), turns=state.turn)
        except Exception as exc:  # a bug still ends the run, visibly
            log.exception("run_crashed", trace_id=state.trace_id)
            return RunEnding(
                RunStatus.FAILED, error=f"{exc or type(exc).__name__}", turns=state.turn
            )
        if outcome.status == RunStatus.WAITING_APPROVAL:
            return None
        return RunEnding(RunStatus(outcome.status), result=outcome.result, turns=outcome.turns)

    async def _store_held(self, run_id: str) -> None:
        await self._append(run_id, await self.held.take(run_id))

    async def _append(self, run_id: str, events: list[NewEvent]) -> None:
        if events:
            for event in await self.store.append_events(run_id, events):
                self.hub.announce(event)

    async def end(self, run: NewRun, ending: RunEnding) -> RunEvent | None:
        """Store the ending (once, after the events the run held back) and report it; None
        when the run had already ended."""
        held = await self.held.take(run.run_id)
        events = await self.store.finish_after(run.run_id, held, ending)
        if not events:
            return None
        for event in events:
            self.hub.announce(event)
        RUNS_FINISHED.labels(ending.status.value).inc()
        log.info(
            "run_finished",
            run_id=run.run_id,
            status=ending.status.value,
            reason=ending.reason,
            trace_id=run.trace_id,
        )
        await self._report(run, ending)
        return events[-1]

    async def _report(self, run: NewRun, ending: RunEnding) -> None:
        audit_type = ENDING_AUDIT.get(ending.reason or "")
        if audit_type is not None:
            await self.audit.record(
                run.trace_id,
                run.session_id,
                audit_type,
                {"run_id": run.run_id, "reason": ending.reason},
            )
            await self.audit.record(
                run.trace_id, run.session_id, "PLAN_END", {"result": None, "reason": ending.reason}
            )
        status = NOTIFIED_STATUS.get(ending.status)
        if status is not None:
            self.notifications.publish_status(run.trace_id, run.session_id, status)
