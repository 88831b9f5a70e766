"""The subscription loop: log each message, and when Redis is unreachable or goes away,
say so and retry with exponential backoff until stopped."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from services.kit.json_limits import loads_bounded
from services.kit.logs import get_logger

log = get_logger("notifier")
POLL_SECONDS = 1.0


class Backoff:
    """Delays that double from `initial` up to `maximum`, reset after a success."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = max(maximum, initial)
        self.current = initial

    def next_delay(self) -> float:
        delay = self.current
        self.current = min(self.current * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self.current = self.initial


class NotificationSubscriber:
    def __init__(self, redis_url: str, channel: str, backoff: Backoff) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.backoff = backoff

    async def run_forever(self) -> None:
        """Subscribe, log messages; on any Redis failure wait and subscribe again."""
        while True:
            try:
                await self._subscribe_and_listen()
            except (RedisError, OSError) as exc:
                delay = self.backoff.next_delay()
                log.warning(
                    "redis_unavailable",
                    redis=self.redis_url,
                    error=str(exc) or type(exc).__name__,
                    retry_in_seconds=delay,
                )
                await asyncio.sleep(delay)

    async def _subscribe_and_listen(self) -> None:
        client = redis.Redis.from_url(
            self.redis_url,
            socket_connect_timeout=3,
            socket_timeout=None,
            health_check_interval=5,
            decode_responses=False,
        )
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(self.channel)
                log.info("subscribed", channel=self.channel, redis=self.redis_url)
                self.backoff.reset()
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=POLL_SECONDS
                    )
                    if message is not None and message.get("type") == "message":
                        log_notification(message["data"])
        finally:
            await client.aclose()


def log_notification(raw: Any, **extra: str) -> None:
    """One line per message: the raw payload, plus its trace id and status when it is JSON
    (and `extra`, e.g. the stream entry id)."""
    payload = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    fields: dict[str, Any] = dict(extra)
    try:
        parsed = loads_bounded(payload)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("trace_id", "session_id", "status"):
            if isinstance(parsed.get(key), str):
                fields[key] = parsed[key]
    else:
        fields["note"] = "payload is not a JSON object"
    # The payload's trace id is the run's, not this process's; log it as a plain field.
    log.info("notification_received", payload=payload, **fields)
