"""Build the runs machinery for one planner process and register its shutdown."""

from __future__ import annotations

import math
import os
import socket
import time
import uuid
from pathlib import Path

from services.agent_planner.loop import AgentLoop, LoopDependencies
from services.agent_planner.runs.approvals import ApprovalDesk
from services.agent_planner.runs.executor import ApprovalSettings, RunExecutor
from services.agent_planner.runs.hub import RunEventHub
from services.agent_planner.runs.maintenance import RunMaintenance
from services.agent_planner.runs.pool import RunPool
from services.agent_planner.runs.service import RunService
from services.agent_planner.runs.sql_checkpoints import SqlCheckpointStore
from services.agent_planner.runs.sql_store import SqlRunStore
from services.agent_planner.runs.stream import RunStreamer
from services.agent_planner.settings import PlannerSettings
from services.kit.database import Database
from services.kit.runtime import Cleanup

# A run whose owner missed this many heartbeats is an orphan (the owner died).
LEASE_HEARTBEATS = 3


def instance_id() -> str:
    """Names this process as a run owner: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def open_runs(
    settings: PlannerSettings, loop: AgentLoop, deps: LoopDependencies, cleanups: list[Cleanup]
) -> RunService:
    owner = instance_id()
    store = SqlRunStore(runs_database(settings, deps), settings.AGENT_RUN_EVENT_MAX_BYTES)
    await store.open()
    hub = RunEventHub(
        settings.redis_url(),
        settings.AGENT_RUN_EVENTS_CHANNEL,
        owner,
        settings.AGENT_REDIS_TIMEOUT_SECONDS,
    )
    await hub.start()
    checkpoints = SqlCheckpointStore(store, settings.AGENT_CHECKPOINT_MAX_BYTES)
    approval = ApprovalSettings(settings.approval_policy(), settings.AGENT_APPROVAL_TIMEOUT_SECONDS)
    executor = RunExecutor(
        loop, store, hub, deps.audit, deps.notifications, owner, checkpoints, approval
    )
    pool = RunPool(executor, settings.AGENT_MAX_CONCURRENT_RUNS, settings.AGENT_RUN_QUEUE_SIZE)
    streamer = RunStreamer(
        store, hub, settings.AGENT_SSE_HEARTBEAT_SECONDS, settings.AGENT_SSE_POLL_SECONDS
    )
    desk = ApprovalDesk(store, checkpoints, pool, hub, deps.audit, owner)
    service = RunService(store, hub, pool, executor, streamer, desk, settings.AGENT_RESUME_ON_START)
    lease = LEASE_HEARTBEATS * settings.AGENT_RUN_HEARTBEAT_SECONDS
    if store.database.is_postgres:
        # Replicas share the database: only runs whose owner stopped beating are orphans,
        # and every replica keeps looking for them while it runs.
        await service.abandon_unfinished(heartbeat_before=time.time() - lease)
        sweep = service.abandon_unfinished
    else:
        # A SQLite file has one planner: whatever it left unfinished belongs to a dead process.
        await service.abandon_unfinished(heartbeat_before=math.inf)
        sweep = None
    maintenance = RunMaintenance(
        store,
        pool,
        owner,
        settings.AGENT_RUN_HEARTBEAT_SECONDS,
        settings.AGENT_RUN_RETENTION_DAYS,
        settings.AGENT_RUN_RETENTION_INTERVAL_SECONDS,
        sweep=sweep,
        lease_seconds=lease,
        expire=desk.expire,
    )
    await pool.start()
    await maintenance.start()
    hub.on_cancel = pool.cancel_soon
    # Runs end (and write their endings) before the audit log and the store close.
    cleanups[:0] = [pool.close, maintenance.close, hub.close]
    cleanups.append(store.close)
    return service


def runs_database(settings: PlannerSettings, deps: LoopDependencies) -> Database:
    """The audit log's database unless AGENT_RUNS_DB_PATH names another SQLite file."""
    if settings.DATABASE_URL or settings.runs_db_path() == settings.PAGI_AUDIT_DB_PATH:
        return deps.audit.database
    return settings.database(Path(settings.runs_db_path()))
