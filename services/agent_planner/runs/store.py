"""RunStore: the storage contract for runs and their events. SqlRunStore implements it once
for both backends (the SQLite file by default, PostgreSQL with DATABASE_URL), so the pool,
the executor and the routes never see SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from services.agent_planner.runs.records import (
    NewEvent,
    NewRun,
    RunEnding,
    RunEvent,
    RunRecord,
    RunStatus,
)


@dataclass(frozen=True)
class RunQuery:
    """GET /runs filters: newest first, `before` is the run id the previous page ended at."""

    session_id: str | None = None
    status: RunStatus | None = None
    limit: int = 20
    before: str | None = None


class RunNotFoundError(Exception):
    """No run has that id."""


class RunStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def create_run(self, run: NewRun, created_at: str) -> RunEvent:
        """Insert the run as queued together with its first event, run.queued."""
        ...

    async def create_started_run(
        self, run: NewRun, created_at: str, owner: str
    ) -> tuple[RunEvent, RunEvent]:
        """Insert the run as already running (a worker of `owner` takes it at once) with
        its run.queued and run.started events, in one transaction."""
        ...

    async def append_event(
        self, run_id: str, event_type: str, data: dict[str, Any]
    ) -> RunEvent | None:
        """Number and store one event; None when the run is already terminal (nothing may
        follow the terminal event)."""
        ...

    async def append_events(self, run_id: str, events: Sequence[NewEvent]) -> list[RunEvent]:
        """Number and store events in one transaction, in order; those after the run
        ended are dropped."""
        ...

    async def start_run(self, run_id: str, owner: str, data: dict[str, Any]) -> RunEvent | None:
        """queued -> running owned by `owner`, with its run.started event; None when the run
        is no longer queued (cancelled while it waited)."""
        ...

    async def finish_after(
        self, run_id: str, before: Sequence[NewEvent], ending: RunEnding
    ) -> list[RunEvent]:
        """The events `before`, then the terminal status and its one terminal event, in one
        transaction; the events stored, the terminal one last, or none when the run had
        already ended."""
        ...

    async def heartbeat(self, owner: str, run_ids: list[str], now: float) -> None:
        """Mark the owner's unfinished runs as alive (the lease other processes check)."""
        ...

    async def stale_runs(self, heartbeat_before: float) -> list[RunRecord]:
        """Unfinished runs whose owner stopped beating before that time (or never began)."""
        ...

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def list_runs(self, query: RunQuery) -> list[RunRecord]:
        """RunNotFoundError when `before` names no run."""
        ...

    async def events_after(self, run_id: str, after: int, limit: int) -> list[RunEvent]: ...

    async def delete_finished_before(self, finished_before: str) -> int:
        """Drop finished runs (and their events) that ended before that timestamp."""
        ...

    async def ping(self) -> bool: ...
