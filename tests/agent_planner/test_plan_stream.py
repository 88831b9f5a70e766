"""plan.delta events: the gateway's deltas coalesced into few events, and a retry or fallback
upstream (a reset) voiding what was shown before."""

from __future__ import annotations

import asyncio
from typing import Any

from services.agent_planner.events import PLAN_DELTA
from services.agent_planner.plan_stream import DELTA_INTERVAL_SECONDS, DeltaForwarder


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

        self.held: list[tuple[str, dict[str, Any]]] = []

    async def emit(self, event_type: str, data: dict[str, Any]) -> None:
        self.events.append((event_type, data))

    def hold(self, event_type: str, data: dict[str, Any]) -> None:
        self.held.append((event_type, data))


class StepClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_deltas(steps: list[tuple[str, bool, float]]) -> list[dict[str, Any]]:
    """Feed (text, reset, seconds before it) to a forwarder; the plan.delta data emitted."""
    sink, clock = RecordingSink(), StepClock()
    forward = DeltaForwarder(sink, turn=2, clock=clock)

    async def feed() -> None:
        for text, reset, pause in steps:
            clock.now += pause
            await forward(text, reset)
        await forward.flush()

    asyncio.run(feed())
    assert all(kind == PLAN_DELTA for kind, _ in sink.events)
    return [data for _, data in sink.events]


def test_quick_deltas_are_coalesced_into_one_event() -> None:
    events = run_deltas([('{"st', False, 0.0), ('eps": ', False, 0.01), ("[]}", False, 0.01)])
    assert events == [{"turn": 2, "delta": '{"steps": []}', "reset": False}]


def test_a_slow_stream_is_shown_as_it_is_written() -> None:
    pause = DELTA_INTERVAL_SECONDS
    events = run_deltas([("one ", False, pause), ("two ", False, pause), ("three", False, 0.0)])
    assert [e["delta"] for e in events] == ["one ", "two ", "three"]


def test_a_reset_voids_shown_text_and_drops_unshown_text() -> None:
    pause = DELTA_INTERVAL_SECONDS
    events = run_deltas(
        [("shown ", False, pause), ("never shown", False, 0.0), ("again", True, 0.0)]
    )
    assert events == [
        {"turn": 2, "delta": "shown ", "reset": False},
        {"turn": 2, "delta": "again", "reset": True},
    ]


def test_a_reset_before_anything_was_shown_voids_nothing() -> None:
    events = run_deltas([("lost", False, 0.0), ("kept", True, 0.0)])
    assert events == [{"turn": 2, "delta": "kept", "reset": False}]


def test_the_last_delta_is_held_for_the_event_that_follows() -> None:
    """At the end of the stream the rest of the text is held, to be stored with the
    plan.received event that follows it at once."""
    sink, clock = RecordingSink(), StepClock()
    forward = DeltaForwarder(sink, turn=1, clock=clock)

    async def feed() -> None:
        await forward("first ", False)
        clock.now += DELTA_INTERVAL_SECONDS
        await forward("second", False)
        await forward("!", False)
        forward.flush_held()
        forward.flush_held()  # nothing left: nothing more held

    asyncio.run(feed())
    assert sink.events == [(PLAN_DELTA, {"turn": 1, "delta": "first second", "reset": False})]
    assert sink.held == [(PLAN_DELTA, {"turn": 1, "delta": "!", "reset": False})]
