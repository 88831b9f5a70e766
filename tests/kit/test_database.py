"""The shared database layer on both backends: numbered migrations (empty -> latest,
previous -> latest, two migrators at once) and a PostgreSQL that goes away and comes back."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.kit.database import Database, DatabaseUnavailable, Migration, engine_url
from tests.support.postgres import PostgresCluster

NOTES = sa.Table(
    "notes",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
)


def create_notes(connection: sa.Connection) -> None:
    NOTES.create(connection)


def add_author(connection: sa.Connection) -> None:
    connection.execute(sa.text("ALTER TABLE notes ADD COLUMN author TEXT"))


V1 = [Migration(1, "notes", create_notes)]
V2 = [*V1, Migration(2, "notes.author", add_author)]
Factory = Callable[[], str]


@pytest.fixture
def new_url(database_url: str) -> Factory:
    """Each call: the URL of one database (the same one for the whole test)."""
    return lambda: database_url


async def columns(db: Database) -> list[str]:
    def read(connection: sa.Connection) -> list[str]:
        return list(connection.execute(sa.text("SELECT * FROM notes WHERE 1 = 0")).keys())

    return await db.read(read)


async def test_empty_database_to_latest_then_nothing_to_do(new_url: Factory) -> None:
    db = Database(new_url())
    try:
        assert await db.migrate("svc", V2) == [1, 2]
        assert await db.migrate("svc", V2) == []
        assert await columns(db) == ["id", "text", "author"]
    finally:
        await db.close()


async def test_previous_version_to_latest_keeps_rows(new_url: Factory) -> None:
    db = Database(new_url())
    try:
        assert await db.migrate("svc", V1) == [1]
        await db.write(lambda c: c.execute(NOTES.insert().values(text="kept")))
        assert await db.migrate("svc", V2) == [2]
        rows = await db.read(lambda c: c.execute(sa.text("SELECT text, author FROM notes")).all())
        assert [tuple(row) for row in rows] == [("kept", None)]
    finally:
        await db.close()


async def test_two_migrators_at_once_apply_each_step_once(new_url: Factory) -> None:
    url = new_url()
    first, second = Database(url), Database(url)
    try:
        results = await asyncio.gather(first.migrate("svc", V2), second.migrate("svc", V2))
        assert sorted(results) == [[], [1, 2]]
        assert await columns(first) == ["id", "text", "author"]
    finally:
        await first.close()
        await second.close()


async def test_processes_opening_a_new_sqlite_file_at_once_all_get_in(tmp_path: Path) -> None:
    """Two connections switching a new file to WAL at once can each hold a lock the other
    needs; SQLite then says "database is locked" without waiting. Each must get in anyway
    (the race is rare: many new files are tried)."""
    for n in range(40):
        url = engine_url("", tmp_path / f"new-{n}")
        first, second = Database(url), Database(url)
        try:
            results = await asyncio.gather(first.migrate("svc", V2), second.migrate("svc", V2))
            assert sorted(results) == [[], [1, 2]]
        finally:
            await first.close()
            await second.close()


async def test_services_keep_separate_migration_histories(new_url: Factory) -> None:
    db = Database(new_url())
    try:
        assert await db.migrate("one", V1) == [1]

        def create_other(connection: sa.Connection) -> None:
            connection.execute(sa.text("CREATE TABLE other (x INT)"))

        other = [Migration(1, "other", create_other)]
        assert await db.migrate("two", other) == [1]
    finally:
        await db.close()


def test_database_url_must_be_postgresql(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="DATABASE_URL must look like postgresql://"):
        engine_url("mysql://root@localhost/pagi", tmp_path / "x.db")
    assert engine_url("postgres://u:p@h:5432/d", tmp_path).startswith("postgresql+asyncpg://")


async def test_postgres_outage_is_reported_and_recovers(tmp_path: Path) -> None:
    cluster = PostgresCluster.create().start()
    db = Database(engine_url(cluster.url(), tmp_path), connect_timeout=2)
    try:
        await db.ping()
        cluster.stop("immediate")
        with pytest.raises(DatabaseUnavailable, match="database unavailable"):
            await db.ping()
        cluster.start()
        await db.ping()  # the same pool reconnects; no restart of the service
    finally:
        await db.close()
        cluster.remove()


def note_texts(connection: sa.Connection) -> list[str]:
    return list(connection.execute(sa.select(NOTES.c.text)).scalars())


async def ticking(stop: asyncio.Event) -> int:
    """How many 10 ms sleeps the event loop completes until stop is set."""
    ticks = 0
    while not stop.is_set():
        await asyncio.sleep(0.01)
        ticks += 1
    return ticks


async def test_sqlite_write_waits_for_another_writer_without_holding_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "locked.db"
    db = Database(engine_url("", path))
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        await db.migrate("svc", V1)
        other.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock
        other.execute("INSERT INTO notes (text) VALUES ('first')")
        threading.Timer(0.5, other.execute, ["COMMIT"]).start()
        stop = asyncio.Event()
        loop_ticks = asyncio.create_task(ticking(stop))
        await db.write(lambda c: c.execute(NOTES.insert().values(text="second")))
        stop.set()
        assert await loop_ticks >= 20  # the loop went on while the write waited
        assert await db.read(note_texts) == ["first", "second"]
    finally:
        other.close()
        await db.close()


async def test_sqlite_short_read_waits_for_an_exclusive_lock_without_holding_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "exclusive.db"
    setup = Database(engine_url("", path))
    await setup.migrate("svc", V1)
    await setup.write(lambda c: c.execute(NOTES.insert().values(text="first")))
    await setup.close()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("PRAGMA locking_mode=EXCLUSIVE")  # no one else may even read
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO notes (text) VALUES ('second')")

    def release() -> None:
        other.execute("COMMIT")
        other.close()

    threading.Timer(0.5, release).start()
    db = Database(engine_url("", path))
    try:
        stop = asyncio.Event()
        loop_ticks = asyncio.create_task(ticking(stop))
        texts = await db.read(note_texts, short=True)
        stop.set()
        assert await loop_ticks >= 20
        assert texts == ["first", "second"]
    finally:
        await db.close()


async def test_sqlite_failed_write_leaves_the_next_one_working(tmp_path: Path) -> None:
    db = Database(engine_url("", tmp_path / "fail.db"))
    try:
        await db.migrate("svc", V1)
        with pytest.raises(DatabaseUnavailable, match="no such table: missing"):
            await db.write(lambda c: c.execute(sa.text("INSERT INTO missing VALUES (1)")))
        await db.write(lambda c: c.execute(NOTES.insert().values(text="kept")))
        assert await db.read(note_texts) == ["kept"]
    finally:
        await db.close()


async def test_sqlite_write_ahead_log_is_copied_back_as_writes_go_on(tmp_path: Path) -> None:
    """The thread copies the log back every so many writes, even back-to-back ones, so it
    stays well below the size at which a commit on the loop would have to (1000 pages)."""
    path = tmp_path / "wal.db"
    db = Database(engine_url("", path))
    try:
        await db.migrate("svc", V1)
        text = "x" * 3000  # about a page per transaction
        for _ in range(3000):
            await db.write(lambda c: c.execute(NOTES.insert().values(text=text)))
        wal_bytes = (tmp_path / "wal.db-wal").stat().st_size
        assert wal_bytes < 1000 * 4096 / 2, wal_bytes
    finally:
        await db.close()
