"""The one channel through which the agent loop reports its steps. A synchronous /plan
passes NULL_SINK; a run passes a sink that stores and streams each event, and later steps
(checkpoints, approvals, plan deltas) report through the same interface."""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

CONTEXT_RETRIEVED = "context.retrieved"
PLAN_DELTA = "plan.delta"
PLAN_RECEIVED = "plan.received"
TOOL_STARTED = "tool.started"
TOOL_FINISHED = "tool.finished"


class EventSink(Protocol):
    async def emit(self, event_type: str, data: dict[str, Any]) -> None: ...

    def hold(self, event_type: str, data: dict[str, Any]) -> None:
        """Report a step whose event may wait for the next one (or the run's ending) to be
        stored with it: for an event another follows at once, so the two cost one write."""
        ...


class NullSink:
    async def emit(self, event_type: str, data: dict[str, Any]) -> None:
        return None

    def hold(self, event_type: str, data: dict[str, Any]) -> None:
        return None


NULL_SINK: EventSink = NullSink()


def elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def tool_status(output: str) -> str:
    """The sandbox's status word from a tool output JSON text."""
    try:
        status = json.loads(output).get("status")
    except (ValueError, AttributeError):
        return "unknown"
    return str(status) if status is not None else "unknown"
