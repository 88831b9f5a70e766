"""How a run's events wait to share a write: an emitted event is written after the linger
when nothing else comes, goes with the run's next write when that comes first, stays in
order behind a write still under way, and is kept for the next write when its own fails."""

from __future__ import annotations

import asyncio

from services.agent_planner.runs.executor import LINGER_SECONDS, HeldEvents
from services.agent_planner.runs.records import NewEvent


class Writes:
    """What HeldEvents wrote, write by write; `fail` makes the next write raise, `slow`
    makes writes wait until released."""

    def __init__(self) -> None:
        self.done: list[list[str]] = []
        self.fail = False
        self.slow: asyncio.Event | None = None

    async def __call__(self, run_id: str, events: list[NewEvent]) -> None:
        if self.slow is not None:
            await self.slow.wait()
        if self.fail:
            self.fail = False
            raise ConnectionError("database unavailable")
        self.done.append([kind for kind, _ in events])


def event(kind: str) -> NewEvent:
    return (kind, {"turn": 1})


async def test_an_emitted_event_alone_is_written_after_the_linger() -> None:
    writes = Writes()
    held = HeldEvents(writes)
    held.linger("run_1", event("context.retrieved"))
    assert writes.done == []
    await asyncio.sleep(LINGER_SECONDS * 3)
    assert writes.done == [["context.retrieved"]]
    assert await held.take("run_1") == []


async def test_the_next_write_takes_lingering_events_and_the_timer_is_dropped() -> None:
    writes = Writes()
    held = HeldEvents(writes)
    held.linger("run_1", event("context.retrieved"))
    held.add("run_1", event("plan.received"))
    taken = await held.take("run_1")
    assert [kind for kind, _ in taken] == ["context.retrieved", "plan.received"]
    await asyncio.sleep(LINGER_SECONDS * 3)
    assert writes.done == []  # no second write of the same events


async def test_a_write_waits_for_a_timed_write_still_under_way() -> None:
    writes = Writes()
    writes.slow = asyncio.Event()
    held = HeldEvents(writes)
    held.linger("run_1", event("tool.started"))
    await asyncio.sleep(LINGER_SECONDS * 3)  # the timed write has started and waits
    held.add("run_1", event("tool.finished"))
    taking = asyncio.ensure_future(held.take("run_1"))
    await asyncio.sleep(0.01)
    assert not taking.done()
    writes.slow.set()
    assert [kind for kind, _ in await taking] == ["tool.finished"]
    assert writes.done == [["tool.started"]]


async def test_events_of_a_failed_timed_write_go_with_the_next_write() -> None:
    writes = Writes()
    writes.fail = True
    held = HeldEvents(writes)
    held.linger("run_1", event("tool.started"))
    await asyncio.sleep(LINGER_SECONDS * 3)
    assert writes.done == []
    held.add("run_1", event("tool.finished"))
    taken = await held.take("run_1")
    assert [kind for kind, _ in taken] == ["tool.started", "tool.finished"]


async def test_runs_linger_apart() -> None:
    writes = Writes()
    held = HeldEvents(writes)
    held.linger("run_1", event("context.retrieved"))
    held.linger("run_2", event("context.retrieved"))
    assert [kind for kind, _ in await held.take("run_1")] == ["context.retrieved"]
    await asyncio.sleep(LINGER_SECONDS * 3)
    assert writes.done == [["context.retrieved"]]  # run_2's, on its own timer
