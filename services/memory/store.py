"""Heart-KB: session history in SQLite (WAL mode).

One connection lives on one worker thread, so every read and write is serialised without
blocking the event loop, and each append is a single transaction: concurrent requests to
one session never interleave or lose messages.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from services.kit.json_limits import loads_bounded
from services.kit.logs import get_logger
from services.kit.timestamps import normalise_stamp
from services.memory.errors import DependencyUnavailable, InvalidRequest

T = TypeVar("T")
log = get_logger("memory.store")
UNREADABLE_EXTRA = "extra_unreadable"

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    stored_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages (session_id, id);
"""


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

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._connection: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self._run(self._open_connection)

    async def close(self) -> None:
        await self._run(self._close_connection)
        self._executor.shutdown(wait=True)

    async def append(self, session_id: str, messages: list[StoredMessage]) -> int:
        """Append messages in order, atomically; returns how many were written."""
        return await self._run(lambda: self._append(session_id, messages))

    async def history(self, session_id: str, limit: int | None = None) -> list[StoredMessage]:
        return await self._run(lambda: self._history(session_id, limit))

    async def latest_session(self) -> str | None:
        """The session that received the most recent message, if any."""
        return await self._run(self._latest_session)

    async def check(self) -> None:
        """Raise DependencyUnavailable unless the database answers a real query."""
        await self._run(self._check)

    async def _run(self, work: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, work)

    def _open_connection(self) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self._path, isolation_level=None, timeout=10)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise DependencyUnavailable(f"sqlite: cannot open {self._path}: {exc}") from exc
        self._connection = connection

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            self._open_connection()
        assert self._connection is not None
        return self._connection

    def _append(self, session_id: str, messages: list[StoredMessage]) -> int:
        rows = [
            (session_id, m.role, m.content, encode_extra(index, m.extra), m.stored_at)
            for index, m in enumerate(messages)
        ]
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO messages (session_id, role, content, extra, stored_at)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise DependencyUnavailable(f"sqlite: write failed: {exc}") from exc
        return len(rows)

    def _history(self, session_id: str, limit: int | None) -> list[StoredMessage]:
        query = "SELECT role, content, extra, stored_at FROM messages WHERE session_id = ?"
        if limit is None:
            rows = self._query(query + " ORDER BY id", (session_id,))
        else:
            rows = self._query(query + " ORDER BY id DESC LIMIT ?", (session_id, limit))
            rows.reverse()
        return [
            StoredMessage(role=r[0], content=r[1], extra=decode_extra(r[2]), stored_at=_stamp(r[3]))
            for r in rows
        ]

    def _latest_session(self) -> str | None:
        rows = self._query("SELECT session_id FROM messages ORDER BY id DESC LIMIT 1", ())
        return str(rows[0][0]) if rows else None

    def _check(self) -> None:
        self._query("SELECT count(*) FROM (SELECT id FROM messages LIMIT 1)", ())

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            return list(self._db().execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise DependencyUnavailable(f"sqlite: query failed: {exc}") from exc


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
