"""The notifier's link to Redis, shared by both ways of consuming: connect, and when Redis
is unreachable or goes away, say so and start again after an exponential backoff."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

from services.kit.logs import get_logger

log = get_logger("notifier")


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


def connect(redis_url: str) -> redis.Redis:
    """A client that waits for messages indefinitely but notices a dead connection."""
    return redis.Redis.from_url(
        redis_url,
        socket_connect_timeout=3,
        socket_timeout=None,
        health_check_interval=5,
        decode_responses=False,
    )


async def keep_consuming(
    redis_url: str, backoff: Backoff, consume: Callable[[redis.Redis], Awaitable[None]]
) -> None:
    """Run consume on a fresh client; on any Redis failure wait (with backoff) and retry."""
    while True:
        try:
            await _consume_once(redis_url, consume)
        except (RedisError, OSError) as exc:
            delay = backoff.next_delay()
            log.warning(
                "redis_unavailable",
                redis=redis_url,
                error=str(exc) or type(exc).__name__,
                retry_in_seconds=delay,
            )
            await asyncio.sleep(delay)


async def _consume_once(redis_url: str, consume: Callable[[redis.Redis], Awaitable[None]]) -> None:
    client = connect(redis_url)
    try:
        await consume(client)
    finally:
        await client.aclose()
