"""At-least-once notifications: read the planner's Redis Stream through a consumer group.
On start the consumer first re-reads what it was given but never acknowledged, then takes
new entries; entries left pending by a consumer that died are reclaimed (XAUTOCLAIM) after
an idle time. Each entry is logged (the line written out, not left waiting for its batch),
then marked done and acknowledged in one round trip; an entry already marked done
(redelivered after a crash between the two) is only acked, so the log shows each
notification once. After a read that brought entries the consumer waits briefly, so
entries close behind them share the next round trip."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from redis.exceptions import ResponseError

from services.kit.logs import flush_logs, get_logger
from services.notifier.connection import Backoff, keep_consuming
from services.notifier.subscriber import log_notification

log = get_logger("notifier")
# Longest wait for new entries: an idle notifier wakes this often (or more often when the
# reclaim interval is shorter, so reclaiming is not delayed by the wait).
BLOCK_MS = 5000
Entry = tuple[bytes, dict[bytes, bytes]]


@dataclass(frozen=True)
class StreamGroup:
    stream: str
    group: str
    consumer: str
    claim_idle_seconds: float
    batch: int
    done_ttl_seconds: int
    batch_wait_seconds: float  # after a read with entries, before the next (0: none)

    def done_key(self, entry_id: str) -> str:
        return f"{self.stream}:done:{self.group}:{entry_id}"


class StreamConsumer:
    def __init__(self, redis_url: str, group: StreamGroup, backoff: Backoff) -> None:
        self.redis_url = redis_url
        self.group = group
        self.backoff = backoff

    async def run_forever(self) -> None:
        """Consume; on any Redis failure wait (with backoff) and start over."""
        await keep_consuming(self.redis_url, self.backoff, self._consume)

    async def _consume(self, client: redis.Redis) -> None:
        await self._ensure_group(client)
        log.info(
            "subscribed",
            mode="stream",
            stream=self.group.stream,
            group=self.group.group,
            consumer=self.group.consumer,
        )
        self.backoff.reset()
        await self._drain_own_pending(client)
        await self._follow(client)

    async def _ensure_group(self, client: redis.Redis) -> None:
        try:
            await client.xgroup_create(self.group.stream, self.group.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _drain_own_pending(self, client: redis.Redis) -> None:
        """What this consumer name was given before a restart and never acknowledged."""
        while entries := await self._read(client, "0", block=None):
            await self._handle(client, entries)

    async def _follow(self, client: redis.Redis) -> None:
        """Entries are acknowledged in the same round trip that asks for the next ones."""
        last_claim = 0.0
        entries: list[Entry] = []
        while True:
            if time.monotonic() - last_claim >= self.group.claim_idle_seconds:
                await self._handle(client, entries, fresh=True)
                entries = []
                last_claim = time.monotonic()
                await self._reclaim(client)
            entries = await self._handle(client, entries, fresh=True, read_next=True)
            if entries and self.group.batch_wait_seconds:
                # Entries close behind these (a run's result, then its status) come with
                # the read that acknowledges these, instead of a round trip each.
                await asyncio.sleep(self.group.batch_wait_seconds)

    async def _reclaim(self, client: redis.Redis) -> None:
        start = "0-0"
        while True:
            reply = await client.xautoclaim(
                self.group.stream,
                self.group.group,
                self.group.consumer,
                min_idle_time=int(self.group.claim_idle_seconds * 1000),
                start_id=start,
                count=self.group.batch,
            )
            start, entries = reply[0], [e for e in reply[1] if e[1] is not None]
            if entries:
                log.info("notifications_reclaimed", count=len(entries))
                await self._handle(client, entries)
            if start in (b"0-0", "0-0"):
                return

    async def _read(self, client: redis.Redis, start: str, block: int | None) -> list[Entry]:
        return _entries(await client.xreadgroup(*self._read_args(start, block)))

    @property
    def _block_ms(self) -> int:
        return max(1, min(BLOCK_MS, int(self.group.claim_idle_seconds * 1000)))

    def _read_args(self, start: str, block: int | None) -> tuple[Any, ...]:
        group = self.group
        return (group.group, group.consumer, {group.stream: start}, group.batch, block)

    async def _handle(
        self,
        client: redis.Redis,
        entries: list[Entry],
        fresh: bool = False,
        read_next: bool = False,
    ) -> list[Entry]:
        """Log and acknowledge entries, and with `read_next` read new ones (blocking) in the
        same round trip. `fresh` entries (read with '>') were never delivered before, so
        none can be marked done yet and the lookup of markers is skipped. An entry is
        marked done before its ack, in one pipeline, so a crash between the two leaves it
        marked: redelivered, it is only acknowledged."""
        if not entries and not read_next:
            return []
        ids = [entry_id.decode() for entry_id, _ in entries]
        keys = [self.group.done_key(i) for i in ids]
        done = [None] * len(ids) if fresh else await client.mget(keys)
        pipe = client.pipeline(transaction=False)
        for entry_id, key, (_, fields), seen in zip(ids, keys, entries, done, strict=True):
            if seen is None:
                log_notification(fields.get(b"payload", b""), stream_id=entry_id)
                pipe.set(key, 1, ex=self.group.done_ttl_seconds)
            pipe.xack(self.group.stream, self.group.group, entry_id)
        flush_logs()  # an entry's line is written before the entry is marked done
        if read_next:
            pipe.xreadgroup(*self._read_args(">", self._block_ms))
        replies = await pipe.execute()
        return _entries(replies[-1]) if read_next else []


def _entries(reply: Any) -> list[Entry]:
    return list(reply[0][1]) if reply else []
