"""What a run is: its status, its stored record and its numbered events."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.agent_planner.knowledge_choice import NO_CHOICE, KnowledgeChoice
from services.kit.knowledge_bases import PLANNER_KNOWLEDGE_BASES


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"  # parked until a reviewer decides; holds no worker
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MAX_TURNS = "max_turns"

    @property
    def terminal(self) -> bool:
        return self not in UNFINISHED


UNFINISHED = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING_APPROVAL)
# The one event type each terminal status ends its stream with.
TERMINAL_EVENTS = {
    RunStatus.SUCCEEDED: "run.succeeded",
    RunStatus.FAILED: "run.failed",
    RunStatus.CANCELLED: "run.cancelled",
    RunStatus.MAX_TURNS: "run.max_turns",
}
TERMINAL_EVENT_TYPES = frozenset(TERMINAL_EVENTS.values())


@dataclass(frozen=True)
class NewRun:
    """A run as POST /runs (or a streamed /plan) creates it."""

    run_id: str
    session_id: str
    trace_id: str
    prompt: str
    resources: list[dict[str, str]]
    approval: tuple[str, ...] = ()  # tools needing a reviewer (server policy and request's)
    knowledge: KnowledgeChoice = NO_CHOICE


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    session_id: str
    trace_id: str
    status: RunStatus
    prompt: str
    resources: list[dict[str, str]]
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    turns: int = 0
    result: str | None = None
    error: str | None = None
    reason: str | None = None
    owner: str | None = None  # the planner process executing it (leases build on this)
    heartbeat_at: float | None = None
    knowledge: KnowledgeChoice = NO_CHOICE

    def new_run(self) -> NewRun:
        """The run as a worker takes it up again (resumed after a decision or a restart)."""
        return NewRun(
            self.run_id,
            self.session_id,
            self.trace_id,
            self.prompt,
            self.resources,
            knowledge=self.knowledge,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status.value,
            "session_id": self.session_id,
            "trace_id": self.trace_id,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "turns": self.turns,
            "result": self.result,
            "error": self.error,
            "reason": self.reason,
            "namespace": self.knowledge.namespace,
            "knowledge_bases": list(self.knowledge.searched(PLANNER_KNOWLEDGE_BASES)),
        }


NewEvent = tuple[str, dict[str, Any]]  # an event's type and data, before it is numbered


@dataclass(frozen=True)
class RunEvent:
    run_id: str
    seq: int
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    # `data` as the JSON text the SSE line carries, when the store already made it (so an
    # event is serialised once, not again for every stream it goes out on).
    text: str | None = field(default=None, compare=False, repr=False)

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_EVENT_TYPES


@dataclass(frozen=True)
class RunEnding:
    """How a run ended: the status, and what GET /runs/{id} and the terminal event show."""

    status: RunStatus
    result: str | None = None
    error: str | None = None
    reason: str | None = None
    turns: int | None = None

    def event_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status.value}
        for name in ("result", "error", "reason", "turns"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data


def bounded_payload(data: dict[str, Any], max_bytes: int) -> tuple[str, bool]:
    """The JSON text of an event's data, replaced by a marked preview when it is too big, so
    stored events stay bounded whatever a model or tool returns; and whether it was."""
    text = json.dumps(data, ensure_ascii=False)
    if len(text.encode("utf-8")) <= max_bytes:
        return text, False
    preview = text.encode("utf-8")[: max_bytes // 2].decode("utf-8", errors="ignore")
    marked = {"truncated": True, "original_bytes": len(text.encode()), "preview": preview}
    return json.dumps(marked), True
