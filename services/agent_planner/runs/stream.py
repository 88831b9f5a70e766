"""A run's events as a Server-Sent Events byte stream: stored events after the reader's
position first, then live ones as the hub wakes the reader, until the terminal event.
Idle streams get a comment heartbeat; without Redis the store is polled instead."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi.sse import KEEPALIVE_COMMENT, format_sse_event

from services.agent_planner.runs.hub import RunEventHub
from services.agent_planner.runs.metrics import STREAM_READERS
from services.agent_planner.runs.records import RunEvent
from services.agent_planner.runs.store import RunStore

BATCH = 500


def encode_event(event: RunEvent) -> bytes:
    return format_sse_event(
        data_str=json.dumps(event.data, ensure_ascii=False), event=event.type, id=str(event.seq)
    )


class RunStreamer:
    def __init__(
        self, store: RunStore, hub: RunEventHub, heartbeat_seconds: float, poll_seconds: float
    ) -> None:
        self.store = store
        self.hub = hub
        self.heartbeat_seconds = heartbeat_seconds
        self.poll_seconds = poll_seconds

    async def follow(self, run_id: str, after: int) -> AsyncIterator[bytes]:
        """Every event of run_id numbered above `after`, ending with the terminal one."""
        STREAM_READERS.inc()
        try:
            with self.hub.watch(run_id) as wake:
                async for chunk in self._follow(run_id, after, wake):
                    yield chunk
        finally:
            STREAM_READERS.dec()

    async def _follow(self, run_id: str, after: int, wake: asyncio.Event) -> AsyncIterator[bytes]:
        last_sent = time.monotonic()
        if await self._ended_before(run_id, after):
            return
        while True:
            wake.clear()
            events = await self.store.events_after(run_id, after, BATCH)
            for event in events:
                yield encode_event(event)
                after = event.seq
                if event.terminal:
                    return
            if events:
                last_sent = time.monotonic()
                if len(events) == BATCH:
                    continue
            if not await self._wait(wake, last_sent):
                yield KEEPALIVE_COMMENT
                last_sent = time.monotonic()

    async def _ended_before(self, run_id: str, after: int) -> bool:
        """Whether the reader already has the terminal event (nothing more will come)."""
        record = await self.store.get_run(run_id)
        if record is None or not record.status.terminal:
            return False
        return not await self.store.events_after(run_id, after, 1)

    async def _wait(self, wake: asyncio.Event, last_sent: float) -> bool:
        """Wait for a wake-up (or a poll tick); False when a heartbeat is due instead."""
        due = last_sent + self.heartbeat_seconds - time.monotonic()
        if due <= 0:
            return False
        # Without a Redis subscription, events written by another process wake nobody.
        step = due if self.hub.connected else min(due, self.poll_seconds)
        try:
            await asyncio.wait_for(wake.wait(), step)
        except TimeoutError:
            return step < due
        return True
