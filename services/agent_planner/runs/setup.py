"""Build the runs machinery for one planner process and register its shutdown."""

from __future__ import annotations

import math
import os
import socket
import uuid
from pathlib import Path

from services.agent_planner.loop import AgentLoop, LoopDependencies
from services.agent_planner.runs.executor import RunExecutor
from services.agent_planner.runs.hub import RunEventHub
from services.agent_planner.runs.maintenance import RunMaintenance
from services.agent_planner.runs.pool import RunPool
from services.agent_planner.runs.service import RunService
from services.agent_planner.runs.sqlite_store import SqliteRunStore
from services.agent_planner.runs.stream import RunStreamer
from services.agent_planner.settings import PlannerSettings
from services.kit.runtime import Cleanup


def instance_id() -> str:
    """Names this process as a run owner: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def open_runs(
    settings: PlannerSettings, loop: AgentLoop, deps: LoopDependencies, cleanups: list[Cleanup]
) -> RunService:
    owner = instance_id()
    store = SqliteRunStore(Path(settings.runs_db_path()), settings.AGENT_RUN_EVENT_MAX_BYTES)
    await store.open()
    hub = RunEventHub(
        settings.redis_url(),
        settings.AGENT_RUN_EVENTS_CHANNEL,
        owner,
        settings.AGENT_REDIS_TIMEOUT_SECONDS,
    )
    await hub.start()
    executor = RunExecutor(loop, store, hub, deps.audit, deps.notifications, owner)
    pool = RunPool(executor, settings.AGENT_MAX_CONCURRENT_RUNS, settings.AGENT_RUN_QUEUE_SIZE)
    streamer = RunStreamer(
        store, hub, settings.AGENT_SSE_HEARTBEAT_SECONDS, settings.AGENT_SSE_POLL_SECONDS
    )
    service = RunService(store, hub, pool, executor, streamer)
    # A SQLite file has one planner: whatever it left unfinished belongs to a dead process.
    await service.abandon_unfinished(heartbeat_before=math.inf)
    maintenance = RunMaintenance(
        store,
        pool,
        owner,
        settings.AGENT_RUN_HEARTBEAT_SECONDS,
        settings.AGENT_RUN_RETENTION_DAYS,
        settings.AGENT_RUN_RETENTION_INTERVAL_SECONDS,
    )
    await pool.start()
    await maintenance.start()
    hub.on_cancel = pool.cancel_soon
    # Runs end (and write their endings) before the audit log and the store close.
    cleanups[:0] = [pool.close, maintenance.close, hub.close]
    cleanups.append(store.close)
    return service
