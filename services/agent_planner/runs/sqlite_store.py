"""RunStore on SQLite (by default the audit log's file): one writer thread keeps event
numbers gap-free and each state change atomic; a small pool of reader threads, each with its
own connection, serves stream readers without queueing behind writes (WAL mode)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from services.agent_planner.audit import utc_timestamp
from services.agent_planner.runs.records import (
    TERMINAL_EVENTS,
    NewRun,
    RunEnding,
    RunEvent,
    RunRecord,
    bounded_payload,
)
from services.agent_planner.runs.sqlite_schema import (
    RUN_COLUMNS,
    SCHEMA,
    record_from_row,
    transaction,
)
from services.agent_planner.runs.store import RunNotFoundError, RunQuery

T = TypeVar("T")
READER_THREADS = 2
OPEN = "status IN ('queued', 'running')"


class SqliteRunStore:
    def __init__(self, path: Path, max_event_bytes: int) -> None:
        self.path = path
        self.max_event_bytes = max_event_bytes
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runs-write")
        self._readers = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="runs-read")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    async def open(self) -> None:
        await self._write(self._create_schema)

    async def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()

    async def ping(self) -> bool:
        await self._read(lambda db: db.execute("SELECT 1").fetchone())
        return True

    async def create_run(self, run: NewRun, created_at: str) -> RunEvent:
        def insert(db: sqlite3.Connection) -> RunEvent:
            with transaction(db):
                db.execute(
                    "INSERT INTO runs (run_id, session_id, trace_id, status, prompt, resources,"
                    " created_at) VALUES (?, ?, ?, 'queued', ?, ?, ?)",
                    (
                        run.run_id,
                        run.session_id,
                        run.trace_id,
                        run.prompt,
                        json.dumps(run.resources),
                        created_at,
                    ),
                )
                return self._insert_event(db, run.run_id, "run.queued", self._queued_data(run))

        return await self._write(insert)

    async def append_event(
        self, run_id: str, event_type: str, data: dict[str, Any]
    ) -> RunEvent | None:
        def append(db: sqlite3.Connection) -> RunEvent | None:
            with transaction(db):
                if not self._is_open(db, run_id):
                    return None
                turn = data.get("turn")
                if isinstance(turn, int):
                    db.execute(
                        "UPDATE runs SET turns = MAX(turns, ?) WHERE run_id = ?", (turn, run_id)
                    )
                return self._insert_event(db, run_id, event_type, data)

        return await self._write(append)

    async def start_run(self, run_id: str, owner: str, data: dict[str, Any]) -> RunEvent | None:
        def start(db: sqlite3.Connection) -> RunEvent | None:
            with transaction(db):
                changed = db.execute(
                    "UPDATE runs SET status = 'running', started_at = ?, owner = ?,"
                    " heartbeat_at = ? WHERE run_id = ? AND status = 'queued'",
                    (utc_timestamp(), owner, time.time(), run_id),
                ).rowcount
                return self._insert_event(db, run_id, "run.started", data) if changed else None

        return await self._write(start)

    async def finish_run(self, run_id: str, ending: RunEnding) -> RunEvent | None:
        def finish(db: sqlite3.Connection) -> RunEvent | None:
            with transaction(db):
                changed = db.execute(
                    f"UPDATE runs SET status = ?, finished_at = ?, result = ?, error = ?,"
                    f" reason = ?, turns = COALESCE(?, turns) WHERE run_id = ? AND {OPEN}",
                    (
                        ending.status.value,
                        utc_timestamp(),
                        ending.result,
                        ending.error,
                        ending.reason,
                        ending.turns,
                        run_id,
                    ),
                ).rowcount
                if not changed:
                    return None
                event_type = TERMINAL_EVENTS[ending.status]
                return self._insert_event(db, run_id, event_type, ending.event_data())

        return await self._write(finish)

    async def heartbeat(self, owner: str, run_ids: list[str], now: float) -> None:
        def beat(db: sqlite3.Connection) -> None:
            with transaction(db):
                db.executemany(
                    f"UPDATE runs SET heartbeat_at = ? WHERE run_id = ? AND owner = ? AND {OPEN}",
                    [(now, run_id, owner) for run_id in run_ids],
                )

        await self._write(beat)

    async def stale_runs(self, heartbeat_before: float) -> list[RunRecord]:
        return await self._read(
            lambda db: self._select_runs(
                db,
                f"WHERE {OPEN} AND (heartbeat_at IS NULL OR heartbeat_at < ?) ORDER BY position",
                (heartbeat_before,),
            )
        )

    async def get_run(self, run_id: str) -> RunRecord | None:
        found = await self._read(lambda db: self._select_runs(db, "WHERE run_id = ?", (run_id,)))
        return found[0] if found else None

    async def list_runs(self, query: RunQuery) -> list[RunRecord]:
        return await self._read(lambda db: self._list_blocking(db, query))

    async def events_after(self, run_id: str, after: int, limit: int) -> list[RunEvent]:
        def select(db: sqlite3.Connection) -> list[RunEvent]:
            cursor = db.execute(
                "SELECT seq, type, data, created_at FROM run_events"
                " WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (run_id, after, limit),
            )
            return [
                RunEvent(run_id, seq, kind, json.loads(data), at) for seq, kind, data, at in cursor
            ]

        return await self._read(select)

    async def delete_finished_before(self, finished_before: str) -> int:
        def delete(db: sqlite3.Connection) -> int:
            with transaction(db):
                db.execute(
                    "DELETE FROM run_events WHERE run_id IN (SELECT run_id FROM runs"
                    f" WHERE NOT {OPEN} AND finished_at < ?)",
                    (finished_before,),
                )
                return db.execute(
                    f"DELETE FROM runs WHERE NOT {OPEN} AND finished_at < ?", (finished_before,)
                ).rowcount

        return await self._write(delete)

    def _list_blocking(self, db: sqlite3.Connection, query: RunQuery) -> list[RunRecord]:
        clauses: list[str] = []
        params: list[Any] = []
        if query.before is not None:
            row = db.execute("SELECT position FROM runs WHERE run_id = ?", (query.before,))
            found = row.fetchone()
            if found is None:
                raise RunNotFoundError(query.before)
            clauses.append("position < ?")
            params.append(found[0])
        for column, value in (("session_id", query.session_id), ("status", query.status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(str(value))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._select_runs(
            db, f"{where} ORDER BY position DESC LIMIT ?", (*params, query.limit)
        )

    def _select_runs(
        self, db: sqlite3.Connection, tail: str, params: tuple[Any, ...]
    ) -> list[RunRecord]:
        cursor = db.execute(f"SELECT {RUN_COLUMNS} FROM runs {tail}", params)
        return [record_from_row(row) for row in cursor]

    def _is_open(self, db: sqlite3.Connection, run_id: str) -> bool:
        row = db.execute(f"SELECT 1 FROM runs WHERE run_id = ? AND {OPEN}", (run_id,))
        return row.fetchone() is not None

    def _insert_event(
        self, db: sqlite3.Connection, run_id: str, event_type: str, data: dict[str, Any]
    ) -> RunEvent:
        (seq,) = db.execute(
            "UPDATE runs SET last_seq = last_seq + 1 WHERE run_id = ? RETURNING last_seq",
            (run_id,),
        ).fetchone()
        text, at = bounded_payload(data, self.max_event_bytes), utc_timestamp()
        db.execute(
            "INSERT INTO run_events (run_id, seq, type, data, created_at) VALUES (?, ?, ?, ?, ?)",
            (run_id, seq, event_type, text, at),
        )
        return RunEvent(run_id, seq, event_type, json.loads(text), at)

    @staticmethod
    def _queued_data(run: NewRun) -> dict[str, Any]:
        return {"run_id": run.run_id, "session_id": run.session_id, "trace_id": run.trace_id}

    def _create_schema(self, db: sqlite3.Connection) -> None:
        for statement in SCHEMA:
            db.execute(statement)

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, timeout=10, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._in(self._writer, fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._in(self._readers, fn)

    async def _in(self, pool: ThreadPoolExecutor, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            pool, lambda: fn(self._connection())
        )
