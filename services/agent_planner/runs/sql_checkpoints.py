"""Run checkpoints and approval decisions in the planner's database, next to the runs.
One row per run holds its latest checkpoint (overwritten each step, so a run stores one,
of bounded size) and, while the run waits for a reviewer, the call id and its deadline.
A decision claims the waiting run and rewrites its pending call in one transaction, so two
reviewers (or a reviewer and the timeout) on any replicas cannot both win."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from services.agent_planner.audit import utc_timestamp
from services.agent_planner.checkpoint import Checkpoint
from services.agent_planner.errors import AgentLoopError
from services.agent_planner.runs.records import NewEvent, RunEvent, RunStatus
from services.agent_planner.runs.sql_store import SqlRunStore
from services.agent_planner.runs.sql_tables import IS_OPEN, RUN_CHECKPOINTS, RUNS

WAITING = RunStatus.WAITING_APPROVAL.value
APPROVAL_REQUIRED = "tool.approval_required"


class CheckpointTooLarge(AgentLoopError):
    """The run's state outgrew AGENT_CHECKPOINT_MAX_BYTES; the run fails rather than
    continue without a way to resume it."""


class ApprovalConflict(Exception):
    """The run is not waiting for that call (another id, already decided, or not waiting)."""


@dataclass(frozen=True)
class StoredCheckpoint:
    approval: tuple[str, ...]
    checkpoint: Checkpoint | None


class SqlCheckpointStore:
    def __init__(self, runs: SqlRunStore, max_bytes: int) -> None:
        self.runs = runs
        self.database = runs.database
        self.max_bytes = max_bytes

    async def save(
        self,
        run_id: str,
        checkpoint: Checkpoint,
        deadline: float | None = None,
        before: Sequence[NewEvent] = (),
    ) -> list[RunEvent]:
        """Store the checkpoint, after the run's events `before` (events held back until the
        next write: a checkpoint never gets ahead of the events of its steps). With a
        deadline the run is also parked (waiting for a reviewer until then, no longer held
        by this process) and its approval_required event stored in the same transaction, so
        a waiting run always shows its call. Returns the events stored."""
        text = checkpoint.to_text()
        size = len(text.encode("utf-8"))
        if size > self.max_bytes:
            raise CheckpointTooLarge(
                f"run state of {size} bytes exceeds AGENT_CHECKPOINT_MAX_BYTES={self.max_bytes}"
            )
        pending = checkpoint.pending
        values = {
            "data": text,
            "call_id": pending.call_id if deadline is not None and pending else None,
            "deadline": deadline,
            "updated_at": utc_timestamp(),
        }

        def write(connection: sa.Connection) -> list[RunEvent]:
            stored = self.runs.write_events(connection, run_id, before)
            _upsert(connection, run_id, values)
            if deadline is None or pending is None:
                return stored
            parked = connection.execute(
                RUNS.update()
                .where(RUNS.c.run_id == run_id, IS_OPEN)
                .values(status=WAITING, owner=None)
            ).rowcount
            if not parked:
                return stored
            asked = self.runs.insert_event(connection, run_id, APPROVAL_REQUIRED, pending.request())
            return [*stored, asked]

        return await self.database.write(write)

    async def load(self, run_id: str) -> StoredCheckpoint:
        query = sa.select(RUN_CHECKPOINTS.c.approval, RUN_CHECKPOINTS.c.data).where(
            RUN_CHECKPOINTS.c.run_id == run_id
        )

        def read(connection: sa.Connection) -> StoredCheckpoint:
            row = connection.execute(query).first()
            if row is None:
                return StoredCheckpoint((), None)
            data = Checkpoint.from_text(row.data) if row.data else None
            return StoredCheckpoint(tuple(json.loads(row.approval)), data)

        return await self.database.read(read)

    async def waiting_call(self, run_id: str) -> dict[str, Any] | None:
        """The call the run waits on a reviewer for (its tool.approval_required data, and
        `expires_at`, when the timeout rejects it), or None when it waits for none."""
        query = sa.select(RUN_CHECKPOINTS.c.data, RUN_CHECKPOINTS.c.deadline).where(
            RUN_CHECKPOINTS.c.run_id == run_id, RUN_CHECKPOINTS.c.call_id.is_not(None)
        )

        def read(connection: sa.Connection) -> dict[str, Any] | None:
            row = connection.execute(query).first()
            pending = Checkpoint.from_text(row.data).pending if row and row.data else None
            if row is None or pending is None:
                return None
            expires = utc_timestamp(row.deadline) if row.deadline is not None else None
            return {**pending.request(), "expires_at": expires}

        return await self.database.read(read)

    async def decide(
        self, run_id: str, call_id: str, apply: Callable[[Checkpoint], None], owner: str
    ) -> Checkpoint:
        """Apply a reviewer's decision to the waiting call and queue the run for `owner`;
        ApprovalConflict (and nothing changed) when the run does not wait for call_id."""

        def claim(connection: sa.Connection) -> Checkpoint:
            waiting = connection.execute(
                sa.select(RUN_CHECKPOINTS.c.call_id, RUN_CHECKPOINTS.c.data)
                .join(RUNS, RUNS.c.run_id == RUN_CHECKPOINTS.c.run_id)
                .where(RUNS.c.run_id == run_id, RUNS.c.status == WAITING)
            ).first()
            if waiting is None or waiting.data is None:
                raise ApprovalConflict("the run is not waiting for an approval")
            if waiting.call_id != call_id:
                raise ApprovalConflict(f"call_id {call_id!r} is not the call waiting for approval")
            claimed = connection.execute(
                RUNS.update()
                .where(RUNS.c.run_id == run_id, RUNS.c.status == WAITING)
                .values(status=RunStatus.QUEUED.value, owner=owner, heartbeat_at=time.time())
            ).rowcount
            if not claimed:  # decided elsewhere between the read and this update
                raise ApprovalConflict("the call was decided meanwhile")
            checkpoint = Checkpoint.from_text(waiting.data)
            apply(checkpoint)
            values = {"data": checkpoint.to_text(), "call_id": None, "deadline": None}
            _upsert(connection, run_id, {**values, "updated_at": utc_timestamp()})
            return checkpoint

        return await self.database.write(claim)

    async def expired(self, now: float) -> list[tuple[str, str]]:
        """(run id, call id) of the calls whose reviewer did not answer in time."""
        query = (
            sa.select(RUN_CHECKPOINTS.c.run_id, RUN_CHECKPOINTS.c.call_id)
            .join(RUNS, RUNS.c.run_id == RUN_CHECKPOINTS.c.run_id)
            .where(RUNS.c.status == WAITING, RUN_CHECKPOINTS.c.deadline < now)
        )
        rows = await self.database.read(lambda c: c.execute(query).all())
        return [(str(run_id), str(call_id)) for run_id, call_id in rows]

    async def resume(self, run_id: str, owner: str, heartbeat_before: float) -> bool:
        """Take over a run a dead process held (queued again, owned by `owner`); False when
        another process took it first."""
        stale = sa.or_(RUNS.c.heartbeat_at.is_(None), RUNS.c.heartbeat_at < heartbeat_before)
        statement = (
            RUNS.update()
            .where(RUNS.c.run_id == run_id, IS_OPEN, stale)
            .values(status=RunStatus.QUEUED.value, owner=owner, heartbeat_at=time.time())
        )
        changed = await self.database.write(lambda c: c.execute(statement).rowcount)
        return bool(changed)


def _upsert(connection: sa.Connection, run_id: str, values: dict[str, Any]) -> None:
    where = RUN_CHECKPOINTS.c.run_id == run_id
    if not connection.execute(RUN_CHECKPOINTS.update().where(where).values(**values)).rowcount:
        connection.execute(RUN_CHECKPOINTS.insert().values(run_id=run_id, **values))
