"""The SQLite audit log: WAL mode, the schema, rows per event with the trace id, the
/audit endpoint, and failed writes logged with their content."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from tests.agent_planner.conftest import LonePlanner, start_lone_planner
from tests.support.logs import logged
from tests.support.spawning import Spawner
from tests.support.timestamps import assert_utc_between, utc_now

AUDIT_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
BODY = json.dumps({"prompt": "audit me", "session_id": "s-audit"})


def test_database_is_in_wal_mode_with_the_schema(lone_planner: LonePlanner) -> None:
    lone_planner.post("/plan", BODY)
    with sqlite3.connect(lone_planner.workdir / "pagi_audit.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [row[1] for row in db.execute("PRAGMA table_info(audit_log)")]
        indexes = {row[1] for row in db.execute("PRAGMA index_list(audit_log)")}
    assert columns == ["id", "trace_id", "session_id", "timestamp", "event_type", "data"]
    indexed = set()
    with sqlite3.connect(lone_planner.workdir / "pagi_audit.db") as db:
        for name in indexes:
            indexed |= {row[2] for row in db.execute(f"PRAGMA index_info({name})")}
    assert {"trace_id", "session_id", "timestamp"} <= indexed


def test_a_failed_run_leaves_start_and_error_rows(lone_planner: LonePlanner) -> None:
    before = utc_now()
    reply = lone_planner.post("/plan", BODY, **{"X-Trace-ID": "audit-trace-1"})
    after = utc_now()
    assert reply.status_code == 500
    with sqlite3.connect(lone_planner.workdir / "pagi_audit.db") as db:
        rows = db.execute(
            "SELECT trace_id, session_id, timestamp, event_type, data FROM audit_log"
            " WHERE trace_id = ? ORDER BY id",
            ("audit-trace-1",),
        ).fetchall()
    assert [r[3] for r in rows] == ["PLAN_START", "PLAN_ERROR"]
    assert all(r[1] == "s-audit" for r in rows)
    for row in rows:  # the planner runs in UTC+05:30 (tests.support.processes.NOT_UTC)
        assert AUDIT_STAMP.match(row[2]), row[2]
        assert_utc_between(row[2], before, after)
    start = json.loads(rows[0][4])
    assert start == {
        "prompt": "audit me",
        "resources": [],
        "max_turns": 3,
        "top_k": 3,
        "kbs": ["Mind-KB", "Domain-KB", "Body-KB", "Soul-KB"],
    }
    assert json.loads(rows[1][4])["error"].startswith("GetPlan: UNAVAILABLE")


def test_audit_endpoint_filters_by_trace_or_session(lone_planner: LonePlanner) -> None:
    lone_planner.post("/plan", BODY, **{"X-Trace-ID": "audit-trace-2"})
    by_trace = lone_planner.get("/audit", trace_id="audit-trace-2").json()
    assert by_trace["count"] == 2
    assert [r["event_type"] for r in by_trace["rows"]] == ["PLAN_START", "PLAN_ERROR"]
    assert by_trace["rows"][0]["data"]["prompt"] == "audit me"
    assert by_trace["rows"][0]["trace_id"] == "audit-trace-2"
    by_session = lone_planner.get("/audit", session_id="s-audit").json()["rows"]
    assert {r["trace_id"] for r in by_session} >= {"audit-trace-2"}
    both = lone_planner.get("/audit", session_id="other", trace_id="audit-trace-2").json()
    assert both["rows"] == []


def test_audit_endpoint_needs_a_filter(lone_planner: LonePlanner) -> None:
    reply = lone_planner.get("/audit")
    assert reply.status_code == 400
    assert "trace_id or session_id" in reply.json()["error"]
    assert lone_planner.get("/audit", trace_id="x", limit="0").status_code == 422


def test_a_failed_write_is_logged_with_the_row(spawn: Spawner, tmp_path: Path) -> None:
    planner = start_lone_planner(spawn, tmp_path)
    with sqlite3.connect(tmp_path / "pagi_audit.db") as db:
        db.execute("DROP TABLE audit_log")
    reply = planner.post("/plan", BODY, **{"X-Trace-ID": "lost-row"})
    assert reply.status_code == 500  # the request still gets its answer
    failures = logged(planner.process, "audit_write_failed", count=2)
    assert [f["row"]["event_type"] for f in failures] == ["PLAN_START", "PLAN_ERROR"]
    assert failures[0]["row"]["trace_id"] == "lost-row"
    assert json.loads(failures[0]["row"]["data"])["prompt"] == "audit me"
    assert "no such table" in failures[0]["error"]
