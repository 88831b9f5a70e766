"""Live delivery to stream readers. The store is the source of truth; the hub only saves
readers work. Events of runs executed here are handed to local readers directly (no store
read); every new event and every cancel request is also announced on a Redis pub/sub
channel, so readers and owners in other planner processes hear of it and read the store.
Without Redis, readers poll the store."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterator

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from services.agent_planner.runs.records import RunEvent
from services.kit.logs import get_logger

log = get_logger("run_hub")
QUEUE_SIZE = 10_000
FEED_SIZE = 1000  # events a slow local reader may lag behind before it re-reads the store
RECONNECT_SECONDS = 1.0
CANCEL = "cancel"
CancelHandler = Callable[[str], None]


class RunFeed:
    """What one reader has not consumed yet: events handed over in this process, and
    `stale` when something arrived that only the store has (another process wrote it)."""

    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.stale = False
        self._events: deque[RunEvent] = deque()

    def push(self, event: RunEvent) -> None:
        if len(self._events) >= FEED_SIZE:
            self._events.clear()
            self.stale = True
        else:
            self._events.append(event)
        self.wake.set()

    def poke(self) -> None:
        self.stale = True
        self.wake.set()

    def take(self, after: int) -> list[RunEvent] | None:
        """The handed-over events after `after`, in order; None when the store must be read
        (a gap, or a stale mark)."""
        self.wake.clear()
        events = [event for event in self._events if event.seq > after]
        self._events.clear()
        if self.stale or (events and events[0].seq != after + 1):
            self.stale = False
            return None
        return events


class RunEventHub:
    def __init__(self, redis_url: str, channel: str, instance_id: str, timeout: float) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.instance_id = instance_id
        self.connected = False  # whether the Redis listener is subscribed right now
        self.on_cancel: CancelHandler | None = None
        self._timeout = timeout
        self._feeds: dict[str, set[RunFeed]] = {}
        self._outbox: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="run-hub-listen"),
            asyncio.create_task(self._publish_forever(), name="run-hub-publish"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.contextmanager
    def watch(self, run_id: str) -> Iterator[RunFeed]:
        """A feed of run_id's new events, while the block runs."""
        feed = RunFeed()
        self._feeds.setdefault(run_id, set()).add(feed)
        try:
            yield feed
        finally:
            feeds = self._feeds.get(run_id)
            if feeds is not None:
                feeds.discard(feed)
                if not feeds:
                    del self._feeds[run_id]

    def announce(self, event: RunEvent) -> None:
        for feed in self._feeds.get(event.run_id, ()):
            feed.push(event)
        self._send(f"{self.instance_id} {event.run_id} {event.seq}")

    def request_cancel(self, run_id: str) -> None:
        """Ask whichever planner executes run_id to cancel it."""
        self._send(f"{self.instance_id} {run_id} {CANCEL}")

    def _send(self, message: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # readers elsewhere still poll the store
            self._outbox.put_nowait(message)

    def _receive(self, raw: bytes) -> None:
        """`<origin> <run id> <seq or "cancel">`, the form announce and request_cancel send."""
        parts = raw.decode(errors="replace").split(" ")
        if len(parts) != 3:
            log.warning("run_hub_bad_message", message=raw[:200].decode(errors="replace"))
            return
        origin, run_id, what = parts
        if what == CANCEL:
            if self.on_cancel is not None:
                self.on_cancel(run_id)
        elif origin != self.instance_id:
            for feed in self._feeds.get(run_id, ()):
                feed.poke()

    async def _publish_forever(self) -> None:
        client = redis.Redis.from_url(
            self.redis_url,
            socket_connect_timeout=self._timeout,
            socket_timeout=self._timeout,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            while True:
                batch = [await self._outbox.get()]
                while not self._outbox.empty() and len(batch) < 500:
                    batch.append(self._outbox.get_nowait())
                with contextlib.suppress(RedisError, OSError):
                    await self._publish(client, batch)
        finally:
            await client.aclose()

    async def _publish(self, client: redis.Redis, batch: list[str]) -> None:
        """Everything queued so far in one round trip."""
        pipe = client.pipeline(transaction=False)
        for message in batch:
            pipe.publish(self.channel, message)
        await pipe.execute()

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._listen()
            except (RedisError, OSError) as exc:
                if self.connected:
                    log.warning("run_hub_disconnected", error=str(exc) or type(exc).__name__)
                self.connected = False
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen(self) -> None:
        client = redis.Redis.from_url(
            self.redis_url, socket_connect_timeout=self._timeout, health_check_interval=5
        )
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(self.channel)
                self.connected = True
                log.info("run_hub_subscribed", channel=self.channel)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                    if message is not None and message.get("type") == "message":
                        self._receive(message["data"])
        finally:
            self.connected = False
            await client.aclose()
