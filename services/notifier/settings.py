"""Notifier settings, read once from the environment (and `.env`)."""

from __future__ import annotations

from pydantic import Field

from services.kit.redis_settings import RedisChannelSettings


class NotifierSettings(RedisChannelSettings):
    NOTIFIER_RETRY_INITIAL_SECONDS: float = Field(default=0.5, gt=0)
    NOTIFIER_RETRY_MAX_SECONDS: float = Field(default=10.0, gt=0)
