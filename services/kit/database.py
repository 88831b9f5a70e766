"""A service's relational database: a SQLite file by default, PostgreSQL when DATABASE_URL
is set. Tables are SQLAlchemy Core objects, so one set of queries serves both backends;
schema changes are numbered migrations applied at start-up under a lock, so replicas that
start together apply each one exactly once."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.kit.errors import DatabaseUnavailable
from services.kit.logs import get_logger

log = get_logger("database")

# The primary key type: BIGINT identity on PostgreSQL, the rowid alias on SQLite.
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MIGRATIONS_TABLE = "schema_migrations"
THREAD_LOCK_WAIT_SECONDS = 10.0  # how long the thread waits for another connection's lock
CHECKPOINT_EVERY = 128  # writes on the loop between checkpoints in the thread
WAL_RETRY_SECONDS = 0.01  # between tries to switch a new file to WAL (see _set_wal)
T = TypeVar("T")
__all__ = ["Database", "DatabaseUnavailable", "Migration", "RowId", "engine_url"]


@dataclass(frozen=True)
class Migration:
    """One numbered schema step; `apply` runs inside the migration transaction."""

    version: int
    description: str
    apply: Callable[[sa.Connection], None]


def engine_url(database_url: str, sqlite_path: Path) -> str:
    """The SQLAlchemy URL: PostgreSQL through asyncpg, else the SQLite file."""
    if not database_url:
        return f"sqlite:///{sqlite_path}"
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme not in ("postgres", "postgresql", "postgresql+asyncpg"):
        raise ValueError("DATABASE_URL must look like postgresql://user:password@host:5432/db")
    return f"postgresql+asyncpg://{rest}"


class Database:
    """One database per service. Statements are written once, as functions of a
    SQLAlchemy Connection, and run by `read` or `write`. On PostgreSQL they run on a bounded
    asyncpg pool whose pre-ping reconnects after an outage. On SQLite they use the sync
    driver: short ones on the event loop itself, long ones and waits for another
    connection's lock in one dedicated thread (measured per one-row write: 140 us of CPU on
    the loop against 410-440 us through the thread, whose hop costs more than the statement).
    Driver errors become DatabaseUnavailable, which the services answer with 503."""

    def __init__(self, url: str, pool_size: int = 5, connect_timeout: float = 5.0) -> None:
        self.url = url
        self.is_postgres = url.startswith("postgresql")
        self.backend = "postgresql" if self.is_postgres else "sqlite"
        self._async: AsyncEngine | None = None
        self._in_thread: _KeptConnection | None = None
        self._on_loop: _KeptConnection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._loop_writes = 0
        self._checkpointing = False  # the thread copies the WAL back: writes go there too
        if self.is_postgres:
            self._async = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=0,
                pool_pre_ping=True,
                pool_timeout=connect_timeout,
                connect_args={"timeout": connect_timeout},
            )
        else:
            self._in_thread = _KeptConnection(url, THREAD_LOCK_WAIT_SECONDS)
            # The loop never waits for a lock: the thread does. The thread also copies the
            # WAL back as writes go on; SQLite's own checkpoint at commit (1000 pages) is a
            # backstop for when that fails (e.g. another process's reader holds a snapshot).
            self._on_loop = _KeptConnection(url, lock_wait_seconds=0.0)
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")

    async def read(self, work: Callable[..., T], *args: Any, short: bool = False) -> T:
        """Run `work(connection, *args)` and return its result; `short`: it reads a bounded
        handful of rows (on SQLite it then runs on the event loop)."""
        return await self._call(work, args, write=False, short=short)

    async def write(self, work: Callable[..., T], *args: Any, short: bool = True) -> T:
        """Run `work(connection, *args)` in one transaction, committed when it returns (on
        SQLite it takes the write lock at BEGIN, so writers queue instead of failing). Writes
        are short unless said otherwise (a migration, a purge of many rows)."""
        return await self._call(work, args, write=True, short=short)

    async def ping(self, query: str = "SELECT 1") -> None:
        """Run a real read. On SQLite also through a fresh read-only connection: the pooled
        one's page cache can keep answering after the file was truncated or removed."""
        await self.read(lambda connection: connection.execute(sa.text(query)).all())
        if self._thread is not None:
            path = sa.make_url(self.url).database or ""
            await asyncio.get_running_loop().run_in_executor(
                self._thread, _fresh_sqlite_read, path, query
            )

    async def migrate(self, service: str, migrations: Sequence[Migration]) -> list[int]:
        """Apply the migrations this database lacks, in order; returns the versions applied."""
        return await self.write(_migrate, service, list(migrations), short=False)

    async def close(self) -> None:
        if self._async is not None:
            await self._async.dispose()
        if self._in_thread is not None and self._on_loop is not None and self._thread:
            self._on_loop.dispose()
            await asyncio.get_running_loop().run_in_executor(self._thread, self._in_thread.dispose)
            self._thread.shutdown(wait=True)

    async def _call(
        self, work: Callable[..., T], args: tuple[Any, ...], write: bool, short: bool
    ) -> T:
        try:
            if self._async is not None:
                return await self._call_async(self._async, work, args, write)
            return await self._call_sqlite(work, args, write, short)
        except (sa.exc.DBAPIError, sqlite3.Error, OSError, TimeoutError) as exc:
            raise DatabaseUnavailable(describe(exc)) from exc

    async def _call_sqlite(
        self, work: Callable[..., T], args: tuple[Any, ...], write: bool, short: bool
    ) -> T:
        assert self._on_loop is not None and self._in_thread is not None
        if short and not self._checkpointing:
            try:
                result = self._on_loop.call(work, args, write)
            except LockBusy:
                pass  # another connection writes: wait for it in the thread
            else:
                if write:
                    self._after_loop_write()
                return result
        run = partial(self._in_thread.call, work, args, write)
        return await asyncio.get_running_loop().run_in_executor(self._thread, run)

    def _after_loop_write(self) -> None:
        """Every CHECKPOINT_EVERY writes on the loop, the thread copies the WAL back into
        the database file. Writes meanwhile queue behind it in the thread, so it catches up
        with the last of them, and the next write starts the WAL over from its beginning."""
        self._loop_writes += 1
        if self._loop_writes % CHECKPOINT_EVERY == 0:
            assert self._in_thread is not None
            self._checkpointing = True
            done = asyncio.get_running_loop().run_in_executor(
                self._thread, self._in_thread.checkpoint
            )
            done.add_done_callback(self._checkpoint_done)

    def _checkpoint_done(self, done: asyncio.Future[None]) -> None:
        self._checkpointing = False
        if not done.cancelled() and done.exception() is not None:
            log.warning("wal_checkpoint_failed", error=str(done.exception()))

    @staticmethod
    async def _call_async(
        engine: AsyncEngine, work: Callable[..., T], args: tuple[Any, ...], write: bool
    ) -> T:
        async with engine.connect() as connection:
            if not write:
                return await connection.run_sync(work, *args)
            async with connection.begin():
                return await connection.run_sync(work, *args)


class LockBusy(Exception):
    """Another connection holds a lock that this one does not wait for."""


class _KeptConnection:
    """One SQLite connection, kept checked out between calls: a pool checkout and return
    per statement cost more CPU than the statement (115 against 70 us per one-row write).
    Each call is still its own transaction, and after any failure the connection goes back
    to the pool, so the next call starts on a clean one. When it does not wait for locks
    (lock_wait_seconds 0), a lock held elsewhere raises LockBusy before a write's work
    runs (or during a read, which can be read again)."""

    def __init__(self, url: str, lock_wait_seconds: float) -> None:
        self.engine = _sqlite_engine(url, lock_wait_seconds)
        self.waits_for_locks = lock_wait_seconds > 0
        self._connection: sa.Connection | None = None

    def call(self, work: Callable[..., T], args: tuple[Any, ...], write: bool) -> T:
        try:
            connection = self._connected().execution_options(write_transaction=write)
            transaction = connection.begin()
        except (sa.exc.OperationalError, sqlite3.OperationalError) as exc:
            self.release()
            if self._not_waited_for(exc):
                raise LockBusy() from exc
            raise
        try:
            with transaction:  # a read commits its BEGIN..COMMIT, dropping its snapshot
                return work(connection, *args)
        except (sa.exc.OperationalError, sqlite3.OperationalError) as exc:  # sqlite3's: Prepared
            self.release()
            # A read can meet a lock too (rarely, e.g. while the WAL starts over): it is read
            # again where locks are waited for. A write holds its lock from BEGIN on.
            if not write and self._not_waited_for(exc):
                raise LockBusy() from exc
            raise
        except BaseException:
            self.release()
            raise

    def checkpoint(self) -> None:
        self._driver().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def dispose(self) -> None:
        self.release()
        self.engine.dispose()

    def release(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()

    def _not_waited_for(self, exc: Exception) -> bool:
        return not self.waits_for_locks and _is_busy(exc)

    def _connected(self) -> sa.Connection:
        if self._connection is None:
            self._connection = self.engine.connect()
        return self._connection

    def _driver(self) -> sqlite3.Connection:
        """The sqlite3 connection itself, for statements outside any transaction."""
        driver = self._connected().connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        return driver


def _is_busy(exc: Exception) -> bool:
    driver_error = getattr(exc, "orig", exc)
    return getattr(driver_error, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY


def _fresh_sqlite_read(path: str, query: str) -> None:
    try:
        fresh = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            fresh.execute(query).fetchall()
        finally:
            fresh.close()
    except sqlite3.Error as exc:
        raise DatabaseUnavailable(f"database unavailable: {exc}") from exc


def _sqlite_engine(url: str, lock_wait_seconds: float) -> sa.Engine:
    """The engine of one kept connection, which waits this long for another's lock."""
    path = sa.make_url(url).database or ""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        f"sqlite:///{path}",
        pool_size=1,
        max_overflow=0,
        connect_args={"timeout": lock_wait_seconds},
    )
    event.listen(engine, "connect", partial(_sqlite_connect, lock_wait_seconds))
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def describe(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).splitlines()[0] if str(original) else type(original).__name__
    return f"database unavailable: {text}"


def _sqlite_connect(lock_wait_seconds: float, dbapi_connection: Any, _record: Any) -> None:
    # The driver's own implicit transactions are off; _sqlite_begin emits BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    _set_wal(cursor, lock_wait_seconds)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _set_wal(cursor: sqlite3.Cursor, lock_wait_seconds: float) -> None:
    """PRAGMA journal_mode=WAL, tried again while another connection holds the lock. On a
    new file two connections switching at once can each need a lock the other holds, and
    SQLite then answers "database is locked" at once instead of waiting its timeout."""
    deadline = time.monotonic() + lock_wait_seconds
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(WAL_RETRY_SECONDS)


def _sqlite_begin(connection: sa.Connection) -> None:
    immediate = connection.get_execution_options().get("write_transaction", False)
    driver = connection.connection.driver_connection
    assert driver is not None
    # On the driver's connection: SQLAlchemy's execute path costs more than the statement.
    driver.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")


MIGRATIONS = sa.Table(
    MIGRATIONS_TABLE,
    sa.MetaData(),
    sa.Column("service", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("description", sa.Text, nullable=False),
)


def _migrate(connection: sa.Connection, service: str, migrations: list[Migration]) -> list[int]:
    _lock(connection, service)
    MIGRATIONS.create(connection, checkfirst=True)
    done = set(
        connection.scalars(sa.select(MIGRATIONS.c.version).where(MIGRATIONS.c.service == service))
    )
    applied = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        migration.apply(connection)
        connection.execute(
            MIGRATIONS.insert().values(
                service=service, version=migration.version, description=migration.description
            )
        )
        applied.append(migration.version)
        log.info("migration_applied", service=service, version=migration.version)
    return applied


def _lock(connection: sa.Connection, service: str) -> None:
    """Serialise migrators: a transaction-scoped advisory lock on PostgreSQL; on SQLite an
    immediate write transaction does the same."""
    if connection.dialect.name == "postgresql":
        key = zlib.crc32(f"pagi-migrations:{service}".encode())
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    # On SQLite the transaction began with BEGIN IMMEDIATE: it already holds the lock.
