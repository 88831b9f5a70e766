"""Run notifications on Redis pub/sub and a Redis Stream (read by the notifier's consumer
group, so none is lost while it is down). Publishing never blocks /plan: payloads go through a
bounded queue to one background publisher (so they keep their order), Redis calls have short
socket timeouts and no retries, and a lost connection is re-made lazily on the next publish."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from services.agent_planner.audit import utc_timestamp
from services.kit.json_limits import loads_bounded
from services.kit.logs import get_logger

log = get_logger("notifications")
QUEUE_SIZE = 1000
BATCH_SIZE = 100  # payloads sent in one pipeline at most
DRAIN_SECONDS = 2.0


@dataclass(frozen=True)
class StreamTarget:
    """The Redis Stream every notification is also appended to, trimmed to about maxlen."""

    name: str
    maxlen: int


class NotificationPublisher:
    def __init__(
        self, redis_url: str, channel: str, timeout_seconds: float, stream: StreamTarget
    ) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.stream = stream
        self.client = redis.Redis.from_url(
            redis_url,
            socket_connect_timeout=timeout_seconds,
            socket_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),
        )
        self.available: bool | None = None  # unknown until the first ping or publish
        self._queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="notification-publisher")

    def publish_status(self, trace_id: str | None, session_id: str, status: str) -> None:
        self._enqueue(
            {
                "trace_id": trace_id,
                "session_id": session_id,
                "status": status,
                "timestamp": utc_timestamp(),
            }
        )

    def publish_result(self, trace_id: str | None, session_id: str, result: str) -> None:
        self._enqueue(
            {
                "trace_id": trace_id,
                "session_id": session_id,
                "result": result,
                "timestamp": utc_timestamp(),
            }
        )

    async def close(self) -> None:
        """Give queued notifications a moment to go out, then stop."""
        if self._worker is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), DRAIN_SECONDS)
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        await self.client.aclose()

    def _enqueue(self, payload: dict[str, str | None]) -> None:
        text = json.dumps(payload)
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("notification_dropped", reason="queue full", payload=text)

    async def _run(self) -> None:
        await self._check_connection()
        while True:
            # Whatever queued up meanwhile (a result and its COMPLETED status, say) goes out
            # in the same round trip, in order.
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < BATCH_SIZE:
                batch.append(self._queue.get_nowait())
            try:
                await self._publish(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _check_connection(self) -> None:
        try:
            await self.client.ping()
        except Exception as exc:  # whatever went wrong, publishing retries on each payload
            self._mark_unavailable(exc)
        else:
            self._mark_available()

    async def _publish(self, batch: list[str]) -> None:
        try:
            await self._send(batch)
        except (RedisError, OSError) as exc:
            self._mark_unavailable(exc)
            for payload in batch:
                log.warning("notification_dropped", reason="redis unavailable", payload=payload)
        except Exception as exc:  # anything else must not end the publisher for good
            for payload in batch:
                log.error("notification_dropped", reason=repr(exc), payload=payload)
        else:
            self._mark_available()

    async def latest(self, count: int) -> list[dict[str, Any]]:
        """The newest notifications of the stream, newest first (for the console)."""
        entries = await self.client.xrevrange(self.stream.name, count=count) or []
        latest = []
        for entry_id, fields in entries:
            raw = (fields or {}).get(b"payload") or (fields or {}).get("payload") or b"{}"
            try:
                payload = loads_bounded(raw)
            except ValueError:
                payload = {"unreadable": True}
            latest.append({"id": _text(entry_id or b""), "payload": payload})
        return latest

    async def _send(self, batch: list[str]) -> None:
        """PUBLISH for live subscribers and XADD for the consumer group, for every payload of
        the batch, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for payload in batch:
            pipe.publish(self.channel, payload)
            pipe.xadd(
                self.stream.name, {"payload": payload}, maxlen=self.stream.maxlen, approximate=True
            )
        await pipe.execute()

    def _mark_unavailable(self, exc: BaseException) -> None:
        if self.available is not False:
            log.warning(
                "redis_unavailable",
                redis=self.redis_url,
                error=str(exc) or type(exc).__name__,
                note="running without notifications until Redis answers again",
            )
        self.available = False

    def _mark_available(self) -> None:
        if self.available is not True:
            log.info("redis_connected", redis=self.redis_url, channel=self.channel)
        self.available = True


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
