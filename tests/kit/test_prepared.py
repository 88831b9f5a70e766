"""Prepared statements answer as SQLAlchemy does, on both backends: inserts of one row and of
many, RETURNING, literals written in the statement, converted parameter types and NULLs.
One whose results would need converting, or with a list parameter, is refused when it is
first run. On SQLite a read meeting another connection's lock is read again in the
thread, which waits for it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.kit.database import Database, Migration, engine_url
from services.kit.prepared import Prepared

METADATA = sa.MetaData()
ITEMS = sa.Table(
    "items",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("weight", sa.Float),
    sa.Column("note", sa.Text),
    sa.Column("count", sa.Integer, nullable=False, server_default="0"),
)
STAMPED = sa.Table(
    "stamped", METADATA, sa.Column("id", sa.Integer, primary_key=True), sa.Column("at", sa.DateTime)
)
MIGRATIONS = [Migration(1, "items", METADATA.create_all)]
INSERT = Prepared(ITEMS.insert(), ("kind", "weight", "note"))
HEAVIEST_OF_KIND = Prepared(
    sa.select(ITEMS.c.kind, ITEMS.c.weight, ITEMS.c.note)
    .where(ITEMS.c.kind == sa.bindparam("kind"))
    .order_by(ITEMS.c.weight.desc())
    .limit(sa.bindparam("limit"))
)
NEWEST_KIND = Prepared(sa.select(ITEMS.c.kind).order_by(ITEMS.c.id.desc()).limit(1))
BUMP_IF_STONE = Prepared(
    ITEMS.update()
    .where(ITEMS.c.id == sa.bindparam("item"), ITEMS.c.kind == "stone")
    .values(count=ITEMS.c.count + sa.bindparam("by"))
    .returning(ITEMS.c.count)
)


async def test_prepared_statements_answer_as_sqlalchemy_does(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.migrate("prepared", MIGRATIONS)
        await db.write(INSERT.execute, {"kind": "stone", "weight": 3, "note": None})
        many = [
            {"kind": "stone", "weight": 7.5, "note": "big"},
            {"kind": "leaf", "weight": 0.25, "note": "green"},
        ]
        await db.write(INSERT.execute, many)

        heaviest = await db.read(HEAVIEST_OF_KIND.rows, {"kind": "stone", "limit": 5})
        assert [tuple(row) for row in heaviest] == [("stone", 7.5, "big"), ("stone", 3.0, None)]
        assert isinstance(heaviest[1][1], float)  # Float's own conversion of the int 3
        assert await db.read(HEAVIEST_OF_KIND.rows, {"kind": "stone", "limit": 1}) == [
            ("stone", 7.5, "big")
        ]
        assert await db.read(NEWEST_KIND.scalar) == "leaf"  # LIMIT 1 kept its value

        assert await db.write(BUMP_IF_STONE.scalar, {"item": 1, "by": 2}) == 2
        assert await db.write(BUMP_IF_STONE.scalar, {"item": 1, "by": 3}) == 5
        assert await db.write(BUMP_IF_STONE.scalar, {"item": 3, "by": 1}) is None  # a leaf
        assert await db.write(BUMP_IF_STONE.scalar, {"item": 99, "by": 1}) is None

        everything = sa.select(ITEMS.c.kind, ITEMS.c["count"]).order_by(ITEMS.c.id)
        rows = await db.read(lambda c: c.execute(everything).all())
        assert [tuple(row) for row in rows] == [("stone", 5), ("stone", 0), ("leaf", 0)]
    finally:
        await db.close()


async def test_a_statement_needing_conversion_or_a_list_parameter_is_refused(
    tmp_path: Path,
) -> None:
    db = Database(engine_url("", tmp_path / "stamped.db"))
    try:
        await db.migrate("prepared", MIGRATIONS)
        stamps = Prepared(sa.select(STAMPED.c.at))
        with pytest.raises(ValueError, match="at: its values need conversion"):
            await db.read(stamps.rows)
        kinds = Prepared(sa.select(ITEMS.c.id).where(ITEMS.c.kind.in_(sa.bindparam("kinds"))))
        with pytest.raises(ValueError, match="kinds: a list or literal parameter"):
            await db.read(kinds.rows, {"kinds": ["stone"]})
    finally:
        await db.close()


def driver_busy_error(path: Path) -> sqlite3.OperationalError:
    """The driver's own error for a lock held elsewhere (SQLITE_BUSY), met for real."""
    holder = sqlite3.connect(path, isolation_level=None)
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        assert exc.sqlite_errorcode == sqlite3.SQLITE_BUSY
        return exc
    finally:
        holder.close()
        other.close()
    raise AssertionError("the second writer was not refused")


async def test_sqlite_prepared_read_meeting_a_lock_is_read_again_in_the_thread(
    tmp_path: Path,
) -> None:
    """The driver's busy error (not SQLAlchemy's wrapper of it) sends the read to the
    thread, which waits for locks, as a wrapped one does."""
    db = Database(engine_url("", tmp_path / "busy.db"))
    busy = driver_busy_error(tmp_path / "other.db")
    threads: list[str] = []

    def newest_once_busy(connection: sa.Connection) -> str:
        threads.append(threading.current_thread().name)
        if len(threads) == 1:
            raise busy
        return str(NEWEST_KIND.scalar(connection))

    try:
        await db.migrate("prepared", MIGRATIONS)
        await db.write(INSERT.execute, {"kind": "stone", "weight": 1.0, "note": None})
        assert await db.read(newest_once_busy, short=True) == "stone"
        assert threads[0] == threading.main_thread().name
        assert threads[1].startswith("sqlite")
    finally:
        await db.close()
