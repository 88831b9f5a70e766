"""Session-history timestamps have one form (ISO 8601 UTC, microseconds, `Z`) whoever wrote
them, with the service running in a time zone other than UTC."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.support.memory import MemoryProcess, memory_process
from tests.support.timestamps import SESSION_STAMP

# UTC+05:30 as a POSIX rule, so the check does not depend on the tz database.
NOT_UTC = "IST-5:30"


@pytest.fixture(scope="module")
def memory_off_utc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MemoryProcess]:
    proc = memory_process(tmp_path_factory.mktemp("memory-tz"), TZ=NOT_UTC)
    proc.start(timeout=120)
    yield proc
    proc.stop()


def store(memory: MemoryProcess, session: str, **extra: Any) -> httpx.Response:
    body = {"session_id": session, "history": [{"role": "user", "content": "hi"}], **extra}
    return httpx.post(f"{memory.url}/memory/store", json=body, timeout=30)


def stamps(memory: MemoryProcess, session: str) -> list[str]:
    reply = httpx.get(f"{memory.url}/memory/latest", params={"session_id": session}, timeout=10)
    return [m["stored_at"] for m in reply.json()["messages"]]


def parsed(stamp: str) -> datetime:
    assert SESSION_STAMP.match(stamp), stamp
    return datetime.fromisoformat(stamp)


def test_the_service_stamps_utc_now_in_the_one_form(memory_off_utc: MemoryProcess) -> None:
    before = datetime.now(UTC)
    assert store(memory_off_utc, "tz-default").status_code == 200
    after = datetime.now(UTC)
    [stamp] = stamps(memory_off_utc, "tz-default")
    assert before <= parsed(stamp) <= after


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("2026-12-01T14:09:44.123456Z", "2026-12-01T14:09:44.123456Z"),
        ("2026-12-01T14:09:44+00:00", "2026-12-01T14:09:44.000000Z"),
        ("2026-12-01T16:09:44.5+02:00", "2026-12-01T14:09:44.500000Z"),
        ("2026-12-01T14:09:44.123456789Z", "2026-12-01T14:09:44.123456Z"),
        ("2026-12-01T14:09:44.123", "2026-12-01T14:09:44.123000Z"),
    ],
    ids=["z", "plus-zero", "other-offset", "nanoseconds", "naive-is-utc"],
)
def test_a_callers_stamp_is_stored_in_the_one_form(
    memory_off_utc: MemoryProcess, given: str, kept: str
) -> None:
    session = f"tz-given-{given}"
    assert store(memory_off_utc, session, stored_at=given).status_code == 200
    assert stamps(memory_off_utc, session) == [kept]


def test_a_stamp_that_is_not_iso_8601_is_422_and_nothing_is_stored(
    memory_off_utc: MemoryProcess,
) -> None:
    reply = store(memory_off_utc, "tz-bad", stored_at="yesterday at noon")
    assert reply.status_code == 422
    assert reply.json()["error"].startswith("stored_at: ")
    assert "not an ISO 8601 timestamp" in reply.json()["error"]
    assert stamps(memory_off_utc, "tz-bad") == []


def test_rows_written_in_an_older_form_are_shown_in_the_one_form(
    memory_off_utc: MemoryProcess,
) -> None:
    """A row from before the fix ("+00:00" stamp), written straight into the database."""
    with contextlib.closing(sqlite3.connect(memory_off_utc.env["SESSION_DB_PATH"])) as db:
        db.execute(
            "INSERT INTO messages (session_id, role, content, extra, stored_at)"
            " VALUES ('tz-old', 'user', 'hi', '{}', '2026-11-30T09:00:00.250000+00:00')"
        )
        db.commit()
    assert stamps(memory_off_utc, "tz-old") == ["2026-11-30T09:00:00.250000Z"]
