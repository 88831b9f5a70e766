"""The audit writer: rows queued while a write runs share the next transaction, keep the
order they were queued in, and a failed write is reported for every row it held."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import structlog

from services.agent_planner.audit import AuditLog
from services.kit.database import Database, DatabaseUnavailable


def counting_writes(audit: AuditLog, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    writes: list[int] = []
    write = audit.database.write

    async def counted(work: Any, rows: list[dict[str, Any]]) -> Any:
        writes.append(len(rows))
        return await write(work, rows)

    monkeypatch.setattr(audit.database, "write", counted)
    return writes


def test_rows_queued_together_are_one_transaction_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> tuple[list[bool], list[str], list[int]]:
        audit = AuditLog(Database(f"sqlite:///{tmp_path / 'audit.db'}"))
        await audit.open()
        writes = counting_writes(audit, monkeypatch)
        queued = [audit.record_soon("t1", "s1", f"EVENT_{n}", {"n": n}) for n in range(5)]
        await audit.settled()
        assert all(future.done() for future in queued)
        late = await audit.record("t1", "s1", "EVENT_5", {"n": 5})
        rows = await audit.rows(trace_id="t1")
        await audit.close()
        return [f.result() for f in queued] + [late], [r["event_type"] for r in rows], writes

    written, events, writes = asyncio.run(scenario())
    assert written == [True] * 6
    assert events == [f"EVENT_{n}" for n in range(6)]
    assert writes == [5, 1]


def test_a_failed_write_logs_every_row_it_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> list[bool]:
        audit = AuditLog(Database(f"sqlite:///{tmp_path / 'audit.db'}"))
        await audit.open()

        async def unavailable(*_: Any) -> None:
            raise DatabaseUnavailable("database unavailable: disk I/O error")

        monkeypatch.setattr(audit.database, "write", unavailable)
        queued = [audit.record_soon("t2", "s2", f"EVENT_{n}", {"n": n}) for n in range(3)]
        results = list(await asyncio.gather(*queued))
        await audit.close()
        return results

    with structlog.testing.capture_logs() as logs:
        assert asyncio.run(scenario()) == [False] * 3
    failed = [entry for entry in logs if entry["event"] == "audit_write_failed"]
    assert [entry["row"]["event_type"] for entry in failed] == ["EVENT_0", "EVENT_1", "EVENT_2"]
    assert all("disk I/O error" in entry["error"] for entry in failed)
