"""Reviewers' decisions on waiting tool calls: POST /runs/{id}/approve and /reject, and the
timeout that rejects a call nobody answered. Any planner process may decide: the decision
is stored with the run's checkpoint and the deciding process queues the run in its own pool,
where it resumes from that checkpoint."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from services.agent_planner.approval import CallState
from services.agent_planner.audit import AuditLog
from services.agent_planner.checkpoint import Checkpoint
from services.agent_planner.runs.executor import QueuedRun
from services.agent_planner.runs.hub import RunEventHub
from services.agent_planner.runs.pool import QueueFullError, RunPool
from services.agent_planner.runs.records import RunRecord
from services.agent_planner.runs.sql_checkpoints import ApprovalConflict, SqlCheckpointStore
from services.agent_planner.runs.store import RunStore
from services.kit.logs import get_logger

log = get_logger("runs")
TIMEOUT_REASON = "timeout"


@dataclass(frozen=True)
class Decision:
    call_id: str
    approved: bool
    args: dict[str, Any] | None = None  # the reviewer's edit of the call's arguments
    comment: str | None = None
    reason: str | None = None  # why it was rejected

    def apply(self, checkpoint: Checkpoint) -> None:
        pending = checkpoint.pending
        assert pending is not None
        if not self.approved:
            pending.state, pending.reason = CallState.REJECTED, self.reason
            return
        pending.state = CallState.APPROVED
        if self.args is not None and self.args != pending.args:
            pending.original_args, pending.args = pending.args, self.args


class ApprovalDesk:
    def __init__(
        self,
        store: RunStore,
        checkpoints: SqlCheckpointStore,
        pool: RunPool,
        hub: RunEventHub,
        audit: AuditLog,
        owner: str,
    ) -> None:
        self.store = store
        self.checkpoints = checkpoints
        self.pool = pool
        self.hub = hub
        self.audit = audit
        self.owner = owner

    async def decide(self, record: RunRecord, decision: Decision) -> None:
        """Store the decision and queue the run here; ApprovalConflict or QueueFullError
        (nothing changed) when it cannot be taken."""
        with self.pool.admission():
            checkpoint = await self.checkpoints.decide(
                record.run_id, decision.call_id, decision.apply, self.owner
            )
            run = record.new_run()
            try:
                await self._report(record, decision, checkpoint)
            finally:  # the run is queued for this process: it must run whatever happens
                self.pool.submit(QueuedRun(run, time.time(), resume=True))
        log.info("tool_call_decided", run_id=record.run_id, approved=decision.approved)

    async def expire(self, now: float) -> int:
        """Reject, with reason "timeout", every call whose reviewer did not answer in time."""
        rejected = 0
        for run_id, call_id in await self.checkpoints.expired(now):
            record = await self.store.get_run(run_id)
            if record is None:
                continue
            try:
                await self.decide(record, Decision(call_id, False, reason=TIMEOUT_REASON))
            except (ApprovalConflict, QueueFullError):
                continue  # decided meanwhile, or retried on the next tick
            rejected += 1
        return rejected

    async def _report(self, record: RunRecord, decision: Decision, checkpoint: Checkpoint) -> None:
        pending = checkpoint.pending
        assert pending is not None
        details: dict[str, Any] = {"call_id": pending.call_id, "tool": pending.name}
        if decision.approved:
            event_type, audit_type = "tool.approved", "TOOL_APPROVED"
            original = pending.original_args if pending.original_args is not None else pending.args
            details.update(args=pending.args, original_args=original, comment=decision.comment)
        else:
            event_type, audit_type = "tool.rejected", "TOOL_REJECTED"
            details.update(reason=decision.reason)
        await self.audit.record(record.trace_id, record.session_id, audit_type, details)
        event = await self.store.append_event(
            record.run_id, event_type, {**details, "turn": pending.turn}
        )
        if event is not None:
            self.hub.announce(event)
