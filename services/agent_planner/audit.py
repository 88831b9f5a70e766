"""The append-only audit log: one row per loop event in the planner's database (SQLite
file by default, PostgreSQL with DATABASE_URL). Rows keep the order they were written in:
ids come from the database, and a run writes its rows one after another."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from services.kit.database import Database, DatabaseUnavailable, Migration, RowId
from services.kit.logs import get_logger
from services.kit.prepared import Prepared

log = get_logger("audit")

METADATA = sa.MetaData()
AUDIT_LOG = sa.Table(
    "audit_log",
    METADATA,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("trace_id", sa.Text),
    sa.Column("session_id", sa.Text),
    sa.Column("timestamp", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("data", sa.Text),
    sa.Index("idx_audit_log_trace_id", "trace_id"),
    sa.Index("idx_audit_log_session_id", "session_id"),
    sa.Index("idx_audit_log_timestamp", "timestamp"),
    sqlite_autoincrement=True,
)


def create_audit_log(connection: sa.Connection) -> None:
    # checkfirst: an audit file written before migrations existed is adopted as version 1.
    METADATA.create_all(connection, checkfirst=True)


MIGRATIONS = [Migration(1, "audit log", create_audit_log)]
# Built once and prepared: on SQLite it runs on the driver itself.
INSERT_ROW = Prepared(
    AUDIT_LOG.insert(), ("trace_id", "session_id", "timestamp", "event_type", "data")
)
READ_CHECK = "SELECT id FROM audit_log ORDER BY id DESC LIMIT 1"
LINGER_SECONDS = 0.05  # longest a queued row waits for others to share its transaction


def utc_timestamp(at: float | None = None) -> str:
    """RFC 3339 UTC with milliseconds, e.g. 2024-05-01T12:00:00.123Z: now, or the Unix
    time `at`."""
    instant = datetime.now(UTC) if at is None else datetime.fromtimestamp(at, UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    """Rows are written by one writer task in the order they were queued. A queued row
    waits up to LINGER_SECONDS for others to share its transaction (a /plan's PLAN_START
    and its closing rows, concurrent runs' rows), and no longer once someone waits for it
    (`settled`, `record`): a run's rows are in before its tool steps, notifications and
    answer, as they were when each was written at once."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._queued: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._last: asyncio.Future[bool] | None = None

    async def open(self) -> None:
        await self.database.migrate("agent_planner.audit", MIGRATIONS)
        log.info("audit_log_open", backend="postgresql" if self.database.is_postgres else "sqlite")

    async def record(
        self, trace_id: str | None, session_id: str, event_type: str, data: dict[str, Any]
    ) -> bool:
        """Append one row; a failed write is logged with the full row and returns False."""
        written = self.record_soon(trace_id, session_id, event_type, data)
        self._write_now()
        return await written

    def record_soon(
        self, trace_id: str | None, session_id: str, event_type: str, data: dict[str, Any]
    ) -> asyncio.Future[bool]:
        """Queue one row (after every row queued before it); the future tells if it was
        written. `settled` waits for it without holding the caller meanwhile."""
        row = {
            "trace_id": trace_id,
            "session_id": session_id,
            "timestamp": utc_timestamp(),
            "event_type": event_type,
            "data": json.dumps(data),
        }
        loop = asyncio.get_running_loop()
        written: asyncio.Future[bool] = loop.create_future()
        self._queued.append((row, written))
        self._last = written
        if self._linger is None and not self._writing:
            self._linger = loop.call_later(LINGER_SECONDS, self._write_now)
        return written

    async def settled(self) -> None:
        """Return once every row queued so far is written (or has failed and been logged)."""
        if self._last is not None:
            self._write_now()
            await asyncio.shield(self._last)

    @property
    def _writing(self) -> bool:
        return self._writer is not None and not self._writer.done()

    def _write_now(self) -> None:
        """Start writing what is queued (the writer takes rows queued meanwhile too)."""
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._queued and not self._writing:
            self._writer = asyncio.create_task(self._write_queued(), name="audit-writer")

    async def _write_queued(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            written = await self._write([row for row, _ in batch])
            for _, future in batch:
                if not future.done():
                    future.set_result(written)

    async def _write(self, rows: list[dict[str, Any]]) -> bool:
        try:
            await self.database.write(_insert, rows)
        except (DatabaseUnavailable, sa.exc.SQLAlchemyError) as exc:
            for row in rows:
                log.error("audit_write_failed", error=str(exc), row=row)
            return False
        return True

    async def rows(
        self, trace_id: str | None = None, session_id: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Rows matching every given filter, oldest first, with `data` decoded."""
        query = sa.select(AUDIT_LOG).order_by(AUDIT_LOG.c.id).limit(limit)
        if trace_id is not None:
            query = query.where(AUDIT_LOG.c.trace_id == trace_id)
        if session_id is not None:
            query = query.where(AUDIT_LOG.c.session_id == session_id)
        rows = await self.database.read(_mappings, query)
        return [decode_row(row) for row in rows]

    async def ping(self) -> bool:
        """A real read of the audit table: False when the database or the table is gone."""
        try:
            await self.database.ping(READ_CHECK)
        except (DatabaseUnavailable, sa.exc.SQLAlchemyError) as exc:
            log.warning("audit_log_unreadable", error=str(exc))
            return False
        return True

    async def close(self) -> None:
        self._write_now()
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        await self.database.close()


def _insert(connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
    INSERT_ROW.execute(connection, rows[0] if len(rows) == 1 else rows)


def _mappings(connection: sa.Connection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in connection.execute(query).mappings()]


def decode_row(row: dict[str, Any]) -> dict[str, Any]:
    with contextlib.suppress(ValueError):  # text that is not JSON stays as it was stored
        row["data"] = json.loads(row["data"]) if row["data"] is not None else None
    return row
