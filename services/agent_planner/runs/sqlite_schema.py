"""The SQLite schema of runs and run events, row decoding, and the transaction helper."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from services.agent_planner.runs.records import RunRecord, RunStatus

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS runs (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL UNIQUE,
        session_id TEXT NOT NULL,
        trace_id TEXT NOT NULL,
        status TEXT NOT NULL,
        prompt TEXT NOT NULL,
        resources TEXT NOT NULL,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        turns INTEGER NOT NULL DEFAULT 0,
        result TEXT,
        error TEXT,
        reason TEXT,
        owner TEXT,
        heartbeat_at REAL,
        last_seq INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS idx_runs_session ON runs(session_id, position)",
    "CREATE INDEX IF NOT EXISTS idx_runs_status ON runs(status, position)",
    "CREATE INDEX IF NOT EXISTS idx_runs_finished ON runs(finished_at)",
    """CREATE TABLE IF NOT EXISTS run_events (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID""",
)
RUN_COLUMNS = (
    "run_id, session_id, trace_id, status, prompt, resources, created_at, started_at,"
    " finished_at, turns, result, error, reason, owner, heartbeat_at"
)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def record_from_row(row: tuple[Any, ...]) -> RunRecord:
    (
        run_id,
        session_id,
        trace_id,
        status,
        prompt,
        resources,
        created_at,
        started_at,
        finished_at,
        turns,
        result,
        error,
        reason,
        owner,
        heartbeat_at,
    ) = row
    return RunRecord(
        run_id,
        session_id,
        trace_id,
        RunStatus(status),
        prompt,
        json.loads(resources),
        created_at,
        started_at,
        finished_at,
        turns,
        result,
        error,
        reason,
        owner,
        heartbeat_at,
    )
