"""Live delivery to stream readers. The store is the source of truth; the hub only saves
readers work. Events of runs executed here are handed to local readers directly (no store
read). Readers elsewhere are reached over one Redis pub/sub channel, and only when some
exist: a process whose reader follows a run says `watch` for it there (and again every
WATCH_REFRESH_SECONDS while it reads), and a process writing events of a watched run
announces each one, so a run nobody follows from another process costs no Redis traffic.
Cancel requests go over the same channel. Without Redis, readers poll the store."""

from __future__ import annotations

import asyncio
import contextlib
import time
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
# A reader renews its watch this often; a writer forgets a watch not renewed in WATCH_TTL
# (so a watch a writer missed, e.g. while it restarted, takes effect within a refresh).
WATCH_REFRESH_SECONDS = 5.0
WATCH_TTL_SECONDS = 4 * WATCH_REFRESH_SECONDS
RECENT_RUNS = 10_000  # runs whose last written event a writer remembers, to answer a watch
CANCEL, WATCH = "cancel", "watch"
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
        self._watched: dict[str, float] = {}  # runs read elsewhere -> when the watch lapses
        self._written: dict[str, int] = {}  # recent runs -> last event seq written here
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
    def watch(self, run_id: str, local: bool = False) -> Iterator[RunFeed]:
        """A feed of run_id's new events, while the block runs. `local`: this process
        executes the run, so no other process is asked for its events until it leaves
        (watch_elsewhere) or the periodic renewal."""
        feed = RunFeed()
        feeds = self._feeds.setdefault(run_id, set())
        if not feeds and not local:
            self._send(f"{self.instance_id} {run_id} {WATCH}")
        feeds.add(feed)
        try:
            yield feed
        finally:
            left = self._feeds.get(run_id)
            if left is not None:
                left.discard(feed)
                if not left:
                    del self._feeds[run_id]

    def announce(self, event: RunEvent) -> None:
        run_id = event.run_id
        for feed in self._feeds.get(run_id, ()):
            feed.push(event)
        self._remember(run_id, event.seq)
        lapses = self._watched.get(run_id)
        if lapses is None:
            return
        if lapses < time.monotonic():
            del self._watched[run_id]
            return
        self._send(f"{self.instance_id} {run_id} {event.seq}")
        if event.terminal:
            del self._watched[run_id]  # nothing follows a terminal event

    def watch_elsewhere(self, run_id: str) -> None:
        """The run left this process (parked for a reviewer, whom another process may
        answer and resume it): its readers here now need other processes' events."""
        if run_id in self._feeds:
            self._send(f"{self.instance_id} {run_id} {WATCH}")

    def request_cancel(self, run_id: str) -> None:
        """Ask whichever planner executes run_id to cancel it."""
        self._send(f"{self.instance_id} {run_id} {CANCEL}")

    def _remember(self, run_id: str, seq: int) -> None:
        written = self._written
        written.pop(run_id, None)
        written[run_id] = seq
        if len(written) > RECENT_RUNS:
            del written[next(iter(written))]

    def _send(self, message: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # readers elsewhere still poll the store
            self._outbox.put_nowait(message)

    def _receive(self, raw: bytes) -> None:
        """`<origin> <run id> <seq, "watch" or "cancel">`, the forms this hub sends."""
        parts = raw.decode(errors="replace").split(" ")
        if len(parts) != 3:
            log.warning("run_hub_bad_message", message=raw[:200].decode(errors="replace"))
            return
        origin, run_id, what = parts
        if what == CANCEL:
            if self.on_cancel is not None:
                self.on_cancel(run_id)
        elif origin == self.instance_id:
            return  # local readers were handed the event, local writers need no watch
        elif what == WATCH:
            self._watched_from(run_id)
        else:
            for feed in self._feeds.get(run_id, ()):
                feed.poke()

    def _watched_from(self, run_id: str) -> None:
        """Another process reads run_id: announce its events from now on, and at once the
        last one written here, which that reader may have missed before the watch came."""
        if run_id not in self._watched and len(self._watched) >= RECENT_RUNS:
            self._forget_lapsed_watches()
        self._watched[run_id] = time.monotonic() + WATCH_TTL_SECONDS
        seq = self._written.get(run_id)
        if seq is not None:
            self._send(f"{self.instance_id} {run_id} {seq}")

    def _forget_lapsed_watches(self) -> None:
        now = time.monotonic()
        for run_id in [r for r, lapses in self._watched.items() if lapses < now]:
            del self._watched[run_id]

    def _renew_watches(self) -> None:
        """Watch again every run read here (a writer may have started or restarted since)."""
        for run_id in self._feeds:
            self._send(f"{self.instance_id} {run_id} {WATCH}")
        self._forget_lapsed_watches()

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
                self._subscribed()
                renewed = time.monotonic()
                while True:
                    # Wait for a message until the next renewal is due, not waking before.
                    due = max(0.0, renewed + WATCH_REFRESH_SECONDS - time.monotonic())
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=due)
                    if message is not None and message.get("type") == "message":
                        self._receive(message["data"])
                    if time.monotonic() - renewed >= WATCH_REFRESH_SECONDS:
                        self._renew_watches()
                        renewed = time.monotonic()
        finally:
            self.connected = False
            await client.aclose()

    def _subscribed(self) -> None:
        """(Re)subscribed: renew this process's watches, and have every reader read the
        store once, for what was announced while no listener was subscribed."""
        self.connected = True
        log.info("run_hub_subscribed", channel=self.channel)
        self._renew_watches()
        for feeds in self._feeds.values():
            for feed in feeds:
                feed.poke()
