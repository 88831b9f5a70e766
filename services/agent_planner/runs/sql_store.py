"""RunStore on the planner's database (SQLite file by default, PostgreSQL with DATABASE_URL):
one set of SQLAlchemy Core statements for both. Event numbers come from the run's row
(`last_seq`, bumped with UPDATE ... RETURNING inside the event's transaction), so they stay
gap-free even when several planner replicas write events of one run."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from services.agent_planner.audit import utc_timestamp
from services.agent_planner.knowledge_choice import KnowledgeChoice
from services.agent_planner.runs.records import (
    TERMINAL_EVENTS,
    NewEvent,
    NewRun,
    RunEnding,
    RunEvent,
    RunRecord,
    RunStatus,
    bounded_payload,
)
from services.agent_planner.runs.sql_tables import (
    EVENTS_AFTER,
    FINISH_RUN,
    INSERT_EVENT,
    INSERT_RUN,
    IS_OPEN,
    IS_UNFINISHED,
    MIGRATIONS,
    NEXT_SEQ,
    NEXT_SEQS_IF_OPEN,
    RUN_CHECKPOINTS,
    RUN_EVENTS,
    RUN_KNOWLEDGE,
    RUNS,
    SELECT_RECORD,
    SELECT_RECORDS,
    START_RUN,
)
from services.agent_planner.runs.store import RunNotFoundError, RunQuery
from services.kit.database import Database, DatabaseUnavailable


class SqlRunStore:
    def __init__(self, database: Database, max_event_bytes: int) -> None:
        self.database = database
        self.max_event_bytes = max_event_bytes

    async def open(self) -> None:
        await self.database.migrate("agent_planner.runs", MIGRATIONS)

    async def close(self) -> None:
        """The database is closed by its owner (the audit log shares it)."""

    async def ping(self) -> bool:
        try:
            await self.database.read(lambda c: c.execute(sa.select(RUNS.c.position).limit(1)))
        except (DatabaseUnavailable, sa.exc.SQLAlchemyError):
            return False
        return True

    async def create_run(self, run: NewRun, created_at: str) -> RunEvent:
        return (await self._create(run, created_at, None))[0]

    async def create_started_run(
        self, run: NewRun, created_at: str, owner: str
    ) -> tuple[RunEvent, RunEvent]:
        queued, started = await self._create(run, created_at, owner)
        return queued, started

    async def _create(self, run: NewRun, created_at: str, owner: str | None) -> list[RunEvent]:
        row = {
            "run_id": run.run_id,
            "session_id": run.session_id,
            "trace_id": run.trace_id,
            "status": RunStatus.QUEUED.value,
            "prompt": run.prompt,
            "resources": json.dumps(run.resources),
            "created_at": created_at,
            "started_at": None,
            "owner": None,
            "heartbeat_at": time.time(),  # the lease starts when the run is accepted
            "last_seq": 1,  # its run.queued event
        }
        if owner is not None:  # a worker is free: running at once, run.started included
            row |= {"status": RunStatus.RUNNING.value, "owner": owner, "last_seq": 2}
            row["started_at"] = created_at
        queued = {"run_id": run.run_id, "session_id": run.session_id, "trace_id": run.trace_id}

        def insert(connection: sa.Connection) -> list[RunEvent]:
            INSERT_RUN.execute(connection, row)
            if run.approval:  # kept for whichever process resumes the run
                policy = {"run_id": run.run_id, "approval": json.dumps(list(run.approval))}
                connection.execute(RUN_CHECKPOINTS.insert(), {**policy, "updated_at": created_at})
            if run.knowledge.chosen:  # kept for GET /runs/{id} and for resuming the run
                connection.execute(RUN_KNOWLEDGE.insert(), _knowledge_row(run))
            events: list[NewEvent] = [("run.queued", queued)]
            if owner is not None:
                events.append(("run.started", {"turn": 0}))
            return self._store_events(connection, run.run_id, 1, events)

        return await self.database.write(insert)

    async def append_event(
        self, run_id: str, event_type: str, data: dict[str, Any]
    ) -> RunEvent | None:
        events = await self.append_events(run_id, [(event_type, data)])
        return events[0] if events else None

    async def append_events(self, run_id: str, events: Sequence[NewEvent]) -> list[RunEvent]:
        return await self.database.write(self.write_events, run_id, events)

    def write_events(
        self, connection: sa.Connection, run_id: str, events: Sequence[NewEvent]
    ) -> list[RunEvent]:
        """Number and store events of an unfinished run, in order; none once it ended."""
        if not events:
            return []
        params = {"id": run_id, "turn": highest_turn(events), "count": len(events)}
        # One statement checks the run is open, numbers the events and records the turn.
        last = NEXT_SEQS_IF_OPEN.scalar(connection, params)
        if last is None:
            return []
        return self._store_events(connection, run_id, int(last) - len(events) + 1, events)

    async def start_run(self, run_id: str, owner: str, data: dict[str, Any]) -> RunEvent | None:
        params = {"id": run_id, "started_at": utc_timestamp(), "owner": owner, "now": time.time()}

        def start(connection: sa.Connection) -> RunEvent | None:
            seq = START_RUN.scalar(connection, params)
            if seq is None:
                return None
            return self._store_event(connection, run_id, int(seq), "run.started", data)

        return await self.database.write(start)

    async def finish_after(
        self, run_id: str, before: Sequence[NewEvent], ending: RunEnding
    ) -> list[RunEvent]:
        params = {
            "id": run_id,
            "status": ending.status.value,
            "finished_at": utc_timestamp(),
            "result": ending.result,
            "error": ending.error,
            "reason": ending.reason,
            "turns": ending.turns,
            "turn": highest_turn(before),
            "count": len(before) + 1,
        }

        def finish(connection: sa.Connection) -> list[RunEvent]:
            last = FINISH_RUN.scalar(connection, params)
            if last is None:
                return []
            events = [*before, (TERMINAL_EVENTS[ending.status], ending.event_data())]
            return self._store_events(connection, run_id, int(last) - len(events) + 1, events)

        return await self.database.write(finish)

    async def heartbeat(self, owner: str, run_ids: list[str], now: float) -> None:
        if not run_ids:
            return
        # A queued run has no owner yet: the process that holds it in its queue claims it.
        mine = sa.or_(RUNS.c.owner == owner, RUNS.c.owner.is_(None))
        statement = (
            RUNS.update()
            .where(RUNS.c.run_id.in_(run_ids), mine, IS_OPEN)
            .values(heartbeat_at=now, owner=owner)
        )
        await self.database.write(lambda connection: connection.execute(statement))

    async def stale_runs(self, heartbeat_before: float) -> list[RunRecord]:
        query = SELECT_RECORDS.where(
            IS_OPEN,
            sa.or_(RUNS.c.heartbeat_at.is_(None), RUNS.c.heartbeat_at < heartbeat_before),
        ).order_by(RUNS.c.position)
        return await self.database.read(_records, query)

    async def get_run(self, run_id: str) -> RunRecord | None:
        found = await self.database.read(SELECT_RECORD.rows, {"id": run_id}, short=True)
        return _record(found[0]) if found else None

    async def list_runs(self, query: RunQuery) -> list[RunRecord]:
        return await self.database.read(_list_runs, query)

    async def events_after(self, run_id: str, after: int, limit: int) -> list[RunEvent]:
        params = {"id": run_id, "after": after, "limit": limit}

        def select(connection: sa.Connection) -> list[RunEvent]:
            return [
                RunEvent(run_id, seq, kind, json.loads(data), at, _sse_text(data))
                for seq, kind, data, at in EVENTS_AFTER.rows(connection, params)
            ]

        return await self.database.read(select)

    async def delete_finished_before(self, finished_before: str) -> int:
        old = sa.and_(sa.not_(IS_UNFINISHED), RUNS.c.finished_at < finished_before)

        def delete(connection: sa.Connection) -> int:
            old_ids = sa.select(RUNS.c.run_id).where(old).scalar_subquery()
            connection.execute(RUN_EVENTS.delete().where(RUN_EVENTS.c.run_id.in_(old_ids)))
            connection.execute(
                RUN_CHECKPOINTS.delete().where(RUN_CHECKPOINTS.c.run_id.in_(old_ids))
            )
            connection.execute(RUN_KNOWLEDGE.delete().where(RUN_KNOWLEDGE.c.run_id.in_(old_ids)))
            return int(connection.execute(RUNS.delete().where(old)).rowcount)

        return await self.database.write(delete, short=False)

    def insert_event(
        self, connection: sa.Connection, run_id: str, event_type: str, data: dict[str, Any]
    ) -> RunEvent:
        seq = NEXT_SEQ.scalar(connection, {"id": run_id})
        if seq is None:
            raise RunNotFoundError(run_id)
        return self._store_event(connection, run_id, int(seq), event_type, data)

    def _store_events(
        self, connection: sa.Connection, run_id: str, first_seq: int, events: Sequence[NewEvent]
    ) -> list[RunEvent]:
        """Insert events numbered from first_seq on, in one statement; they carry the time
        of their write (one transaction)."""
        stored, rows, at = [], [], utc_timestamp()
        for seq, (event_type, data) in enumerate(events, first_seq):
            text, cut = bounded_payload(data, self.max_event_bytes)
            rows.append(
                {"run_id": run_id, "seq": seq, "type": event_type, "data": text, "created_at": at}
            )
            # Readers see what the store holds: the caller's data, or its marked preview.
            if cut:
                stored.append(RunEvent(run_id, seq, event_type, json.loads(text), at))
            else:
                stored.append(RunEvent(run_id, seq, event_type, data, at, text))
        INSERT_EVENT.execute(connection, rows[0] if len(rows) == 1 else rows)
        return stored

    def _store_event(
        self,
        connection: sa.Connection,
        run_id: str,
        seq: int,
        event_type: str,
        data: dict[str, Any],
    ) -> RunEvent:
        return self._store_events(connection, run_id, seq, [(event_type, data)])[0]


def _list_runs(connection: sa.Connection, query: RunQuery) -> list[RunRecord]:
    select = SELECT_RECORDS
    if query.before is not None:
        position = connection.execute(
            sa.select(RUNS.c.position).where(RUNS.c.run_id == query.before)
        ).scalar()
        if position is None:
            raise RunNotFoundError(query.before)
        select = select.where(RUNS.c.position < position)
    if query.session_id is not None:
        select = select.where(RUNS.c.session_id == query.session_id)
    if query.status is not None:
        select = select.where(RUNS.c.status == str(query.status))
    return _records(connection, select.order_by(RUNS.c.position.desc()).limit(query.limit))


def _records(connection: sa.Connection, query: sa.Select[Any]) -> list[RunRecord]:
    return [_record(row) for row in connection.execute(query)]


def _record(row: Sequence[Any]) -> RunRecord:
    *values, namespace, knowledge_bases = list(row)
    values[3] = RunStatus(values[3])
    values[5] = json.loads(values[5])
    record = RunRecord(*values)
    if namespace is None and knowledge_bases is None:  # the run made no choice
        return record
    return replace(record, knowledge=KnowledgeChoice.stored(namespace, knowledge_bases))


def _knowledge_row(run: NewRun) -> dict[str, str]:
    return {
        "run_id": run.run_id,
        "namespace": run.knowledge.namespace,
        "knowledge_bases": run.knowledge.to_text(),
    }


def _sse_text(stored: str) -> str | None:
    """Stored text that SSE can carry as is: what json.dumps(..., ensure_ascii=False) made,
    which a preview of a cut event (ASCII-escaped) is not."""
    return None if stored.startswith('{"truncated": true') else stored


def highest_turn(events: Sequence[NewEvent]) -> int:
    """The highest `turn` the events' data name (0 without one): the run's turn count."""
    turns = [data.get("turn") for _, data in events]
    return max((turn for turn in turns if isinstance(turn, int)), default=0)
