"""The append-only audit log: one SQLite row per loop event, written off the event loop by
a single writer thread (so rows keep their order), in WAL mode so readers never block it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.kit.logs import get_logger

log = get_logger("audit")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        trace_id TEXT,
        session_id TEXT,
        timestamp DATETIME NOT NULL,
        event_type TEXT NOT NULL,
        data TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS idx_audit_log_trace_id ON audit_log(trace_id)",
    "CREATE INDEX IF NOT EXISTS idx_audit_log_session_id ON audit_log(session_id)",
    "CREATE INDEX IF NOT EXISTS idx_audit_log_timestamp ON audit_log(timestamp)",
)
COLUMNS = "id, trace_id, session_id, timestamp, event_type, data"
READ_CHECK = "SELECT id FROM audit_log ORDER BY id DESC LIMIT 1"


@dataclass(frozen=True)
class AuditRow:
    trace_id: str | None
    session_id: str
    timestamp: str
    event_type: str
    data: str


def utc_timestamp() -> str:
    """RFC 3339 UTC with milliseconds, e.g. 2024-05-01T12:00:00.123Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit")
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self._run(self._open_blocking)
        log.info("audit_log_open", path=str(self.path))

    async def record(
        self, trace_id: str | None, session_id: str, event_type: str, data: dict[str, Any]
    ) -> bool:
        """Append one row; a failed write is logged with the full row and returns False."""
        row = AuditRow(trace_id, session_id, utc_timestamp(), event_type, json.dumps(data))
        try:
            await self._run(self._insert_blocking, row)
        except (sqlite3.Error, OSError, RuntimeError) as exc:
            log.error("audit_write_failed", error=str(exc), row=asdict(row))
            return False
        return True

    async def rows(
        self, trace_id: str | None = None, session_id: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Rows matching every given filter, oldest first, with `data` decoded."""
        return await self._run(self._select_blocking, trace_id, session_id, limit)

    async def ping(self) -> bool:
        """Whether the audit table can really be read; a failure is logged, never raised."""
        try:
            await self._run(self._ping_blocking)
        except (sqlite3.Error, OSError, RuntimeError) as exc:
            log.warning("audit_log_unreadable", path=str(self.path), error=str(exc))
            return False
        return True

    async def close(self) -> None:
        await self._run(self._close_blocking)
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _open_blocking(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=5, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        for statement in SCHEMA:
            db.execute(statement)
        self._db = db

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("audit log is not open")
        return self._db

    def _insert_blocking(self, row: AuditRow) -> None:
        self._connection().execute(
            "INSERT INTO audit_log (trace_id, session_id, timestamp, event_type, data)"
            " VALUES (?, ?, ?, ?, ?)",
            (row.trace_id, row.session_id, row.timestamp, row.event_type, row.data),
        )

    def _select_blocking(
        self, trace_id: str | None, session_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        clauses, params = [], []
        for column, value in (("trace_id", trace_id), ("session_id", session_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        cursor = self._connection().execute(
            f"SELECT {COLUMNS} FROM audit_log {where} ORDER BY id LIMIT ?", (*params, limit)
        )
        names = [d[0] for d in cursor.description]
        return [decode_row(dict(zip(names, values, strict=True))) for values in cursor]

    def _ping_blocking(self) -> None:
        """A real read of the table through the open connection and through a fresh one:
        the writer's page cache can keep answering after the file was truncated or lost."""
        self._connection().execute(READ_CHECK).fetchone()
        fresh = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            fresh.execute(READ_CHECK).fetchone()
        finally:
            fresh.close()

    def _close_blocking(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def decode_row(row: dict[str, Any]) -> dict[str, Any]:
    with contextlib.suppress(ValueError):  # text that is not JSON stays as it was stored
        row["data"] = json.loads(row["data"]) if row["data"] is not None else None
    return row
