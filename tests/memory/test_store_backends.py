"""The session store on both backends (SQLite file, PostgreSQL), called directly: order,
limits, latest session, concurrent appends, a history file from before migrations, and two
memory replicas sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.kit.database import Database, engine_url
from services.memory.store import SessionStore, StoredMessage
from tests.support.memory import memory_process
from tests.support.postgres import PostgresCluster
from tests.support.spawning import Spawner

STAMP = "2026-01-01T00:00:00.000000Z"


def message(content: str, role: str = "user", **extra: str) -> StoredMessage:
    return StoredMessage(role=role, content=content, stored_at=STAMP, extra=dict(extra))


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SessionStore]:
    opened = SessionStore(Database(database_url))
    await opened.open()
    yield opened
    await opened.close()


async def test_appends_keep_order_limits_and_extra_fields(store: SessionStore) -> None:
    assert await store.append("s", [message("one"), message("two", "assistant", tool="x")]) == 2
    assert await store.append("s", [message("three")]) == 1
    history = await store.history("s")
    assert [(m.role, m.content) for m in history] == [
        ("user", "one"),
        ("assistant", "two"),
        ("user", "three"),
    ]
    assert history[1].extra == {"tool": "x"}
    assert history[0].stored_at == STAMP
    assert [m.content for m in await store.history("s", 2)] == ["two", "three"]
    assert await store.history("never") == []


async def test_latest_session_is_the_most_recently_written(store: SessionStore) -> None:
    assert await store.latest_session() is None
    await store.append("old", [message("a")])
    await store.append("new", [message("b")])
    await store.append("old", [message("c")])
    assert await store.latest_session() == "old"


async def test_concurrent_appends_stay_contiguous(store: SessionStore) -> None:
    async def one(n: int) -> int:
        return await store.append("busy", [message(f"r{n}-m{i}") for i in range(3)])

    assert await asyncio.gather(*(one(n) for n in range(30))) == [3] * 30
    stored = [m.content for m in await store.history("busy")]
    assert len(stored) == 90
    for start in range(0, 90, 3):
        request = stored[start].split("-")[0]
        assert stored[start : start + 3] == [f"{request}-m{i}" for i in range(3)]


async def test_history_file_from_before_migrations_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        """CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL,
           role TEXT NOT NULL, content TEXT NOT NULL, extra TEXT NOT NULL DEFAULT '{}',
           stored_at TEXT NOT NULL);
           INSERT INTO messages (session_id, role, content, stored_at)
           VALUES ('kept', 'user', 'from the old version', '2025-01-01T00:00:00Z');"""
    )
    old.commit()
    old.close()
    store = SessionStore(Database(engine_url("", path)))
    await store.open()
    try:
        await store.append("kept", [message("new")])
        assert [m.content for m in await store.history("kept")] == ["from the old version", "new"]
    finally:
        await store.close()


def test_two_memory_replicas_share_one_history(
    tmp_path: Path, spawn: Spawner, postgres_cluster: PostgresCluster
) -> None:
    url = postgres_cluster.create_database()
    replicas = [
        spawn(memory_process(tmp_path / f"m{n}", DATABASE_URL=url, MEMORY_INGEST_ON_START="false"))
        for n in range(2)
    ]
    session = f"shared-{uuid.uuid4()}"
    for turn in range(6):
        replica = replicas[turn % 2]
        body = {"session_id": session, "history": [{"role": "user", "content": f"t{turn}"}]}
        reply = httpx.post(f"{replica.url}/memory/store", json=body, timeout=30)
        assert reply.status_code == 200, reply.text
    for replica in replicas:
        latest = httpx.get(
            f"{replica.url}/memory/latest", params={"session_id": session}, timeout=30
        ).json()
        assert [m["content"] for m in latest["messages"]] == [f"t{n}" for n in range(6)]
    assert replicas[0].health()["status"] == "ok"
