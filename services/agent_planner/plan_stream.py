"""Plans for runs come over StreamPlan: the model's text is forwarded as `plan.delta` events
while it is written, so a run's reader sees the answer grow. Deltas are coalesced (one event
per DELTA_INTERVAL_SECONDS or DELTA_MAX_CHARS) so a token-by-token stream does not become
one stored event per token. A synchronous /plan, which has no reader, keeps GetPlan."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from services.agent_planner.events import NULL_SINK, PLAN_DELTA, EventSink
from services.agent_planner.gateway_client import GatewayClient
from services.agent_planner.validation import Resource
from services.contracts import modelgateway_pb2 as pb

DELTA_INTERVAL_SECONDS = 0.1
DELTA_MAX_CHARS = 512


async def fetch_plan(
    gateway: GatewayClient,
    planner_input: str,
    resources: Sequence[Resource],
    sink: EventSink,
    turn: int,
) -> pb.PlanResponse:
    if sink is NULL_SINK:
        return await gateway.get_plan(planner_input, resources)
    forward = DeltaForwarder(sink, turn)
    reply = await gateway.stream_plan(planner_input, resources, forward)
    forward.flush_held()  # plan.received follows at once: one write for both
    return reply


class DeltaForwarder:
    """Buffers deltas and emits them as plan.delta {turn, delta, reset}; `reset: true` says
    the deltas of earlier events of this turn are void (the gateway retried or fell back)."""

    def __init__(
        self, sink: EventSink, turn: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._sink = sink
        self._turn = turn
        self._clock = clock
        self._pending: list[str] = []
        self._pending_chars = 0
        self._emitted = False
        self._reset = False
        self._last_emit = clock()

    async def __call__(self, text: str, reset: bool) -> None:
        if reset:
            self._pending, self._pending_chars = [], 0  # void text nobody has seen yet
            self._reset = self._reset or self._emitted
        self._pending.append(text)
        self._pending_chars += len(text)
        due = self._clock() - self._last_emit >= DELTA_INTERVAL_SECONDS
        if due or self._pending_chars >= DELTA_MAX_CHARS:
            await self.flush()

    async def flush(self) -> None:
        if self._pending:
            await self._sink.emit(PLAN_DELTA, self._take())

    def flush_held(self) -> None:
        """The last delta, held to be stored with the event that follows it."""
        if self._pending:
            self._sink.hold(PLAN_DELTA, self._take())

    def _take(self) -> dict[str, object]:
        data = {"turn": self._turn, "delta": "".join(self._pending), "reset": self._reset}
        self._pending, self._pending_chars, self._reset = [], 0, False
        self._emitted, self._last_emit = True, self._clock()
        return data
