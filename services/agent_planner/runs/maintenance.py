"""Background upkeep of runs: heartbeats on the runs this process executes (the lease other
processes can check) and the retention job that deletes old finished runs and their events."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from services.agent_planner.runs.pool import RunPool
from services.agent_planner.runs.store import RunStore
from services.kit.database import DatabaseUnavailable
from services.kit.logs import get_logger

log = get_logger("run_maintenance")
# Sweeps runs by time: ends (or resumes) those whose owner last beat before the given time,
# or rejects calls whose approval deadline passed; returns how many.
Sweep = Callable[[float], Awaitable[int]]


def retention_cutoff(days: float, now: datetime | None = None) -> str:
    """The timestamp (audit format) before which finished runs are deleted."""
    moment = (now or datetime.now(UTC)) - timedelta(days=days)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RunMaintenance:
    def __init__(
        self,
        store: RunStore,
        pool: RunPool,
        owner: str,
        heartbeat_seconds: float,
        retention_days: float,
        retention_interval_seconds: float,
        sweep: Sweep | None = None,
        lease_seconds: float = 0.0,
        expire: Sweep | None = None,
    ) -> None:
        self.store = store
        self.pool = pool
        self.owner = owner
        self.heartbeat_seconds = heartbeat_seconds
        self.retention_days = retention_days
        self.retention_interval_seconds = retention_interval_seconds
        self.sweep = sweep
        self.lease_seconds = lease_seconds
        self.expire = expire  # rejects tool calls whose reviewer did not answer in time
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.prune()
        self._task = asyncio.create_task(self._forever(), name="run-maintenance")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def prune(self) -> int:
        deleted = await self.store.delete_finished_before(retention_cutoff(self.retention_days))
        if deleted:
            log.info("runs_pruned", deleted=deleted, retention_days=self.retention_days)
        return deleted

    async def _forever(self) -> None:
        last_prune = time.monotonic()
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self._beat()
                if self.sweep is not None:
                    await self.sweep(time.time() - self.lease_seconds)
                if self.expire is not None:
                    await self.expire(time.time())
                if time.monotonic() - last_prune >= self.retention_interval_seconds:
                    last_prune = time.monotonic()
                    await self.prune()
            except (DatabaseUnavailable, sqlite3.Error, OSError) as exc:  # retried on the next tick
                log.error("run_maintenance_failed", error=str(exc))

    async def _beat(self) -> None:
        running = self.pool.owned_ids()
        if running:
            await self.store.heartbeat(self.owner, running, time.time())
