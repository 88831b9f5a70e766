"""Notifier settings, read once from the environment (and `.env`)."""

from __future__ import annotations

from pydantic import Field, field_validator

from services.kit.redis_addr import redis_url
from services.kit.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    REDIS_ADDR: str = "localhost:6379"
    PAGI_NOTIFICATIONS_CHANNEL: str = Field(default="pagi_notifications", min_length=1)
    NOTIFIER_RETRY_INITIAL_SECONDS: float = Field(default=0.5, gt=0)
    NOTIFIER_RETRY_MAX_SECONDS: float = Field(default=10.0, gt=0)

    @field_validator("REDIS_ADDR")
    @classmethod
    def _check_redis_addr(cls, value: str) -> str:
        redis_url(value)
        return value.strip()

    def redis_url(self) -> str:
        return redis_url(self.REDIS_ADDR)
