"""The audit writer: rows queued together or while a write runs share a transaction, keep the
order they were queued in, and a failed write is reported for every row it held."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import structlog

from services.agent_planner.audit import LINGER_SECONDS, AuditLog
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


def test_a_row_waits_briefly_for_the_rows_that_follow_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PLAN_START and a short run's closing rows share a transaction: a row queued a few
    milliseconds after another joins it, as long as nobody waits for the first."""

    async def scenario() -> tuple[list[int], bool]:
        audit = AuditLog(Database(f"sqlite:///{tmp_path / 'audit.db'}"))
        await audit.open()
        writes = counting_writes(audit, monkeypatch)
        first = audit.record_soon("t3", "s3", "PLAN_START", {})
        await asyncio.sleep(LINGER_SECONDS / 5)
        waited = first.done()
        audit.record_soon("t3", "s3", "PLAN_END", {})
        await audit.settled()
        await audit.close()
        return writes, waited

    writes, written_before_second = asyncio.run(scenario())
    assert not written_before_second
    assert writes == [2]


def test_a_row_nobody_waits_for_is_written_within_the_linger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> tuple[list[int], bool]:
        audit = AuditLog(Database(f"sqlite:///{tmp_path / 'audit.db'}"))
        await audit.open()
        writes = counting_writes(audit, monkeypatch)
        alone = audit.record_soon("t4", "s4", "PLAN_START", {})
        await asyncio.sleep(LINGER_SECONDS * 4)
        done = alone.done() and alone.result()
        await audit.close()
        return writes, done

    writes, done = asyncio.run(scenario())
    assert done
    assert writes == [1]


def test_rows_still_queued_are_written_on_close(tmp_path: Path) -> None:
    path = f"sqlite:///{tmp_path / 'audit.db'}"

    async def scenario() -> list[str]:
        audit = AuditLog(Database(path))
        await audit.open()
        audit.record_soon("t5", "s5", "PLAN_START", {})
        await audit.close()
        reopened = AuditLog(Database(path))
        rows = await reopened.rows(trace_id="t5")
        await reopened.close()
        return [r["event_type"] for r in rows]

    assert asyncio.run(scenario()) == ["PLAN_START"]
