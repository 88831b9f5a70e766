"""The Redis settings shared by the services on the notifications channel (the planner
publishes, the notifier subscribes)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from services.kit.settings import ServiceSettings


def redis_url(addr: str) -> str:
    """REDIS_ADDR is host:port; a full redis:// or rediss:// URL is accepted too.

    Raises ValueError naming the expected shape, so settings validation reports it.
    """
    url = addr.strip() if "://" in addr else f"redis://{addr.strip()}"
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("redis", "rediss") or not parts.hostname or port is None:
        raise ValueError(f"expected host:port or redis://host:port, got {addr!r}")
    return url


class RedisChannelSettings(ServiceSettings):
    REDIS_ADDR: str = "localhost:6379"
    PAGI_NOTIFICATIONS_CHANNEL: str = Field(default="pagi_notifications", min_length=1)
    # Every notification is also appended here, so a notifier that was down catches up.
    PAGI_NOTIFICATIONS_STREAM: str = Field(default="pagi:notifications", min_length=1)

    @field_validator("REDIS_ADDR")
    @classmethod
    def _check_redis_addr(cls, value: str) -> str:
        redis_url(value)
        return value.strip()

    def redis_url(self) -> str:
        return redis_url(self.REDIS_ADDR)
