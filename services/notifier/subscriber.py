"""The pub/sub subscription: log each message as it arrives (Redis failures are handled by
connection.keep_consuming)."""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis

from services.kit.json_limits import loads_bounded
from services.kit.logs import get_logger
from services.notifier.connection import Backoff, keep_consuming

log = get_logger("notifier")
POLL_SECONDS = 1.0


class NotificationSubscriber:
    def __init__(self, redis_url: str, channel: str, backoff: Backoff) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.backoff = backoff

    async def run_forever(self) -> None:
        """Subscribe, log messages; on any Redis failure wait and subscribe again."""
        await keep_consuming(self.redis_url, self.backoff, self._listen)

    async def _listen(self, client: redis.Redis) -> None:
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
