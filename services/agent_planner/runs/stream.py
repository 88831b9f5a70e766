"""A run's events as a Server-Sent Events byte stream: stored events after the reader's
position first, then live ones as the hub wakes the reader, until the terminal event.
Events of runs executed in this process come straight from the hub, without a store
read. Idle streams get a comment heartbeat; without Redis the store is polled instead."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator

from fastapi.sse import KEEPALIVE_COMMENT, format_sse_event

from services.agent_planner.runs.hub import RunEventHub, RunFeed
from services.agent_planner.runs.metrics import STREAM_READERS
from services.agent_planner.runs.records import RunEvent, RunRecord, RunStatus
from services.agent_planner.runs.store import RunStore

BATCH = 500
CHUNK_BYTES = 65536  # events ready together go out in one write, up to about this much
SETTLED = frozenset({*(s for s in RunStatus if s.terminal), RunStatus.WAITING_APPROVAL})
WOKEN, HEARTBEAT, POLL = "woken", "heartbeat", "poll"


class FinalChunk(bytes):
    """A stream's last bytes (they end with its terminal event): the response sends them
    with the end of the body, in one write instead of two."""


def encode_event(event: RunEvent) -> bytes:
    text = event.text
    if text is None:
        text = json.dumps(event.data, ensure_ascii=False)
    return format_sse_event(data_str=text, event=event.type, id=str(event.seq))


class RunStreamer:
    def __init__(
        self, store: RunStore, hub: RunEventHub, heartbeat_seconds: float, poll_seconds: float
    ) -> None:
        self.store = store
        self.hub = hub
        self.heartbeat_seconds = heartbeat_seconds
        self.poll_seconds = poll_seconds

    async def follow(
        self,
        run_id: str,
        after: int,
        known_open: bool = False,
        first: list[RunEvent] | None = None,
        local: bool = False,
    ) -> AsyncIterator[bytes]:
        """Every event of run_id numbered above `after`, ending with the terminal one
        (`known_open`: the caller knows the run has not ended, e.g. it just created it;
        `first`: the events numbered from after+1 the caller already has; `local`: this
        process executes the run)."""
        STREAM_READERS.inc()
        try:
            with self.hub.watch(run_id, local) as feed:
                async for chunk in self._follow(run_id, after, feed, known_open, first):
                    yield chunk
        finally:
            STREAM_READERS.dec()

    async def _follow(
        self,
        run_id: str,
        after: int,
        feed: RunFeed,
        known_open: bool,
        first: list[RunEvent] | None,
    ) -> AsyncIterator[bytes]:
        events: list[RunEvent] | None
        if first is not None:
            events, from_store = first, False
        else:
            events, from_store = await self.store.events_after(run_id, after, BATCH), True
        if not events and not known_open and await self._ended(run_id):
            return  # the reader already has the terminal event
        last_sent = time.monotonic()
        while True:
            if events is None:
                events, from_store = await self.store.events_after(run_id, after, BATCH), True
            for chunk, seq, ended in chunks(events):
                yield chunk
                after = seq
                if ended:
                    return
            if events:
                last_sent = time.monotonic()
            if from_store and len(events) == BATCH:
                events = None
                continue
            events, from_store = feed.take(after), False
            if events is None or events:
                continue
            outcome = await self._wait(feed.wake, last_sent)
            if outcome == HEARTBEAT:
                yield KEEPALIVE_COMMENT
                last_sent = time.monotonic()
            elif outcome == POLL:
                events = None

    async def settled(self, run_id: str, local: bool = False) -> RunRecord:
        """The run's record once it has ended or parked for a reviewer (read again at
        every event of the run, or every poll interval when Redis is away)."""
        with self.hub.watch(run_id, local) as feed:
            while True:
                feed.wake.clear()
                record = await self.store.get_run(run_id)
                if record is None or record.status in SETTLED:
                    assert record is not None, run_id
                    return record
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(feed.wake.wait(), self.poll_seconds)

    async def _ended(self, run_id: str) -> bool:
        record = await self.store.get_run(run_id)
        return record is None or record.status.terminal

    async def _wait(self, wake: asyncio.Event, last_sent: float) -> str:
        """Wait for a wake-up; HEARTBEAT when one is due first, POLL when the store should
        be read because Redis (which would wake us for other processes' events) is away."""
        due = last_sent + self.heartbeat_seconds - time.monotonic()
        if due <= 0:
            return HEARTBEAT
        step = due if self.hub.connected else min(due, self.poll_seconds)
        try:
            async with asyncio.timeout(step):  # no task per wait, unlike wait_for on 3.11
                await wake.wait()
        except TimeoutError:
            return POLL if step < due else HEARTBEAT
        return WOKEN


def chunks(events: list[RunEvent]) -> Iterator[tuple[bytes, int, bool]]:
    """The events as SSE bytes, joined into as few writes as CHUNK_BYTES allows and cut
    after a terminal event: (bytes, the last event's number, whether it was terminal)."""
    parts: list[bytes] = []
    size = 0
    for event in events:
        part = encode_event(event)
        parts.append(part)
        size += len(part)
        if event.terminal:
            yield FinalChunk(b"".join(parts)), event.seq, True
            return
        if size >= CHUNK_BYTES:
            yield b"".join(parts), event.seq, False
            parts, size = [], 0
    if parts:
        yield b"".join(parts), events[-1].seq, False
