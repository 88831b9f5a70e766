"""Notifier settings, read once from the environment (and `.env`)."""

from __future__ import annotations

import socket
from typing import Literal

from pydantic import Field

from services.kit.redis_settings import RedisChannelSettings


class NotifierSettings(RedisChannelSettings):
    NOTIFIER_RETRY_INITIAL_SECONDS: float = Field(default=0.5, gt=0)
    NOTIFIER_RETRY_MAX_SECONDS: float = Field(default=10.0, gt=0)
    # stream: at-least-once through a consumer group on PAGI_NOTIFICATIONS_STREAM;
    # pubsub: the original channel, which loses what is sent while nobody listens.
    NOTIFIER_MODE: Literal["stream", "pubsub"] = "stream"
    NOTIFIER_GROUP: str = Field(default="notifier", min_length=1)
    # Keep it stable across restarts, so a restarted notifier re-reads its own pending entries.
    NOTIFIER_CONSUMER: str = Field(default_factory=socket.gethostname, min_length=1)
    NOTIFIER_CLAIM_IDLE_SECONDS: float = Field(default=60.0, gt=0)
    NOTIFIER_BATCH: int = Field(default=100, ge=1, le=10_000)
    NOTIFIER_DONE_TTL_SECONDS: int = Field(default=7 * 24 * 3600, ge=60)
    # After a read that brought entries, wait this long before logging them and reading
    # on, so entries arriving close together cost one round trip; 0: never wait.
    NOTIFIER_BATCH_WAIT_MS: int = Field(default=20, ge=0, le=1000)
