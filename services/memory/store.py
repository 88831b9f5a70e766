"""Heart-KB: session history in the service's database (SQLite file by default, PostgreSQL
with DATABASE_URL, so several memory replicas share it).

Each append is one transaction, so concurrent requests to one session never interleave or
lose messages; reads return a session's messages in the order they were written.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import sqlalchemy as sa

from services.kit.database import Database, DatabaseUnavailable, Migration, RowId
from services.kit.json_limits import loads_bounded
from services.kit.logs import get_logger
from services.kit.prepared import Prepared
from services.kit.timestamps import normalise_stamp
from services.memory.errors import DependencyUnavailable, InvalidRequest

log = get_logger("memory.store")
MAX_HISTORY_LIMIT = 10_000  # messages one history read may ask for
UNREADABLE_EXTRA = "extra_unreadable"
SHORT_READ_ROWS = 100  # a history read of up to this many rows runs on the event loop
METADATA = sa.MetaData()
MESSAGES = sa.Table(
    "messages",
    METADATA,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("extra", sa.Text, nullable=False, server_default="{}"),
    sa.Column("stored_at", sa.Text, nullable=False),
    sa.Index("messages_by_session", "session_id", "id"),
    sqlite_autoincrement=True,
)


def create_messages(connection: sa.Connection) -> None:
    # checkfirst: a history file written before migrations existed is adopted as version 1.
    METADATA.create_all(connection, checkfirst=True)


MIGRATIONS = [Migration(1, "session messages", create_messages)]
# Statements of every call, built once and prepared (on SQLite they run on the driver).
INSERT_MESSAGES = Prepared(
    MESSAGES.insert(), ("session_id", "role", "content", "extra", "stored_at")
)
_SESSION_MESSAGES = sa.select(
    MESSAGES.c.role, MESSAGES.c.content, MESSAGES.c.extra, MESSAGES.c.stored_at
).where(MESSAGES.c.session_id == sa.bindparam("session"))
WHOLE_HISTORY = Prepared(_SESSION_MESSAGES.order_by(MESSAGES.c.id))
NEWEST_HISTORY = Prepared(
    _SESSION_MESSAGES.order_by(MESSAGES.c.id.desc()).limit(sa.bindparam("limit"))
)
LATEST_SESSION = Prepared(sa.select(MESSAGES.c.session_id).order_by(MESSAGES.c.id.desc()).limit(1))


@dataclass(frozen=True)
class StoredMessage:
    role: str
    content: str
    stored_at: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "role": self.role,
            "content": self.content,
            "stored_at": self.stored_at,
        }


class SessionStore:
    """Append-only message log per session."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self.backend = database.backend
        self._migrated = False
        self._migrate_lock = asyncio.Lock()

    async def open(self) -> None:
        """Apply migrations; a database that is not reachable yet is retried on each use."""
        await self._ensure_schema()

    async def close(self) -> None:
        await self._db.close()

    async def append(self, session_id: str, messages: list[StoredMessage]) -> int:
        """Append messages in order, atomically; returns how many were written."""
        rows = [
            {
                "session_id": session_id,
                "role": m.role,
                "content": m.content,
                "extra": encode_extra(index, m.extra),
                "stored_at": m.stored_at,
            }
            for index, m in enumerate(messages)
        ]
        await self._ensure_schema()
        if rows:
            await self._use("write failed", self._db.write, _insert, rows)
        return len(rows)

    async def history(self, session_id: str, limit: int | None = None) -> list[StoredMessage]:
        read = partial(self._db.read, short=limit is not None and limit <= SHORT_READ_ROWS)
        rows = await self._use("query failed", read, _history, session_id, limit)
        return [
            StoredMessage(role=r[0], content=r[1], extra=decode_extra(r[2]), stored_at=_stamp(r[3]))
            for r in rows
        ]

    async def latest(self, session_id: str, limit: int | None) -> tuple[str, list[StoredMessage]]:
        """GET /memory/latest: the session (the most recently active one when session_id is
        empty) and its last `limit` messages, oldest first."""
        chosen = session_id or await self.latest_session() or ""
        return chosen, (await self.history(chosen, limit) if chosen else [])

    async def latest_session(self) -> str | None:
        """The session that received the most recent message, if any."""
        read = partial(self._db.read, short=True)
        rows = await self._use("query failed", read, _latest_session)
        return str(rows[0][0]) if rows else None

    async def check(self) -> None:
        """Raise DependencyUnavailable unless the database answers a real query."""
        await self._use("query failed", self._db.read, _check)

    async def _use(self, what: str, call: Any, *args: Any) -> Any:
        await self._ensure_schema()
        try:
            return await call(*args)
        except (DatabaseUnavailable, sa.exc.SQLAlchemyError) as exc:
            raise DependencyUnavailable(f"{self.backend}: {what}: {exc}") from exc

    async def _ensure_schema(self) -> None:
        if self._migrated:
            return
        async with self._migrate_lock:
            if self._migrated:
                return
            try:
                await self._db.migrate("memory", MIGRATIONS)
            except (DatabaseUnavailable, sa.exc.SQLAlchemyError) as exc:
                raise DependencyUnavailable(f"{self.backend}: cannot open: {exc}") from exc
            self._migrated = True


def _insert(connection: sa.Connection, rows: list[dict[str, str]]) -> None:
    if connection.dialect.name == "postgresql":
        # Ids come from a sequence that concurrent transactions draw from in turn: one
        # session's appends take a lock for the transaction, so each keeps its rows
        # contiguous. SQLite needs none: its writers already queue at BEGIN IMMEDIATE.
        lock = sa.text("SELECT pg_advisory_xact_lock(hashtext(:session))")
        connection.execute(lock, {"session": rows[0]["session_id"]})
    INSERT_MESSAGES.execute(connection, rows)


def _history(connection: sa.Connection, session_id: str, limit: int | None) -> list[Any]:
    if limit is None:
        return WHOLE_HISTORY.rows(connection, {"session": session_id})
    newest = NEWEST_HISTORY.rows(connection, {"session": session_id, "limit": limit})
    return list(reversed(newest))


def _latest_session(connection: sa.Connection) -> list[Any]:
    return LATEST_SESSION.rows(connection)


def _check(connection: sa.Connection) -> None:
    connection.execute(sa.select(MESSAGES.c.id).limit(1)).all()


def _stamp(stored: str) -> str:
    """Rows written before timestamps had one form are shown in it too (kept as written
    when they are not ISO 8601 at all)."""
    try:
        return normalise_stamp(stored)
    except ValueError:
        return stored


def encode_extra(index: int, extra: dict[str, Any]) -> str:
    """The message's extra fields as stored; refused unless they read back as they are."""
    try:
        encoded = json.dumps(extra, allow_nan=False)
        loads_bounded(encoded)
    except ValueError as exc:
        raise InvalidRequest(f"history.{index}: extra fields cannot be stored: {exc}") from None
    return encoded


def decode_extra(encoded: str) -> dict[str, Any]:
    """Stored extra fields; a row written before the limits existed that cannot be read
    back loses its extras (flagged), never the message."""
    try:
        extra = loads_bounded(encoded)
    except ValueError as exc:
        log.warning("stored_extra_unreadable", error=str(exc))
        return {UNREADABLE_EXTRA: str(exc)}
    return extra if isinstance(extra, dict) else {}
