"""Live wake-ups for stream readers. A run's events are read from the store; the hub only
says "run X has something new". Runs executed here wake local readers directly; every new
event (and every cancel request) is also announced on a Redis pub/sub channel so readers and
owners in other planner processes hear of it. Without Redis, readers poll the store."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from services.kit.logs import get_logger

log = get_logger("run_hub")
QUEUE_SIZE = 10_000
RECONNECT_SECONDS = 1.0
CancelHandler = Callable[[str], None]


class RunEventHub:
    def __init__(self, redis_url: str, channel: str, instance_id: str, timeout: float) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.instance_id = instance_id
        self.connected = False  # whether the Redis listener is subscribed right now
        self.on_cancel: CancelHandler | None = None
        self._timeout = timeout
        self._watchers: dict[str, set[asyncio.Event]] = {}
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
    def watch(self, run_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever run_id gets something new, while the block runs."""
        wake = asyncio.Event()
        self._watchers.setdefault(run_id, set()).add(wake)
        try:
            yield wake
        finally:
            watchers = self._watchers.get(run_id)
            if watchers is not None:
                watchers.discard(wake)
                if not watchers:
                    del self._watchers[run_id]

    def announce(self, run_id: str, seq: int) -> None:
        self._wake(run_id)
        self._send({"origin": self.instance_id, "run_id": run_id, "seq": seq})

    def request_cancel(self, run_id: str) -> None:
        """Ask whichever planner executes run_id to cancel it."""
        self._send({"origin": self.instance_id, "run_id": run_id, "cancel": True})

    def _wake(self, run_id: str) -> None:
        for wake in self._watchers.get(run_id, ()):
            wake.set()

    def _send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # readers still poll the store
            self._outbox.put_nowait(json.dumps(message))

    def _receive(self, raw: bytes) -> None:
        try:
            message = json.loads(raw)
            run_id = str(message["run_id"])
        except (ValueError, KeyError, TypeError):
            log.warning("run_hub_bad_message", message=raw[:200].decode(errors="replace"))
            return
        if message.get("cancel") and self.on_cancel is not None:
            self.on_cancel(run_id)
        elif message.get("origin") != self.instance_id:
            self._wake(run_id)

    async def _publish_forever(self) -> None:
        client = redis.Redis.from_url(
            self.redis_url,
            socket_connect_timeout=self._timeout,
            socket_timeout=self._timeout,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            while True:
                message = await self._outbox.get()
                with contextlib.suppress(RedisError, OSError):
                    await client.publish(self.channel, message)
        finally:
            await client.aclose()

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
