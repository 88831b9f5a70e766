"""The notifier's consumer, chosen by NOTIFIER_MODE: the stream consumer group (at least
once) or the plain pub/sub subscription."""

from __future__ import annotations

from services.notifier.connection import Backoff
from services.notifier.settings import NotifierSettings
from services.notifier.stream_consumer import StreamConsumer, StreamGroup
from services.notifier.subscriber import NotificationSubscriber


def build_consumer(settings: NotifierSettings) -> StreamConsumer | NotificationSubscriber:
    backoff = Backoff(settings.NOTIFIER_RETRY_INITIAL_SECONDS, settings.NOTIFIER_RETRY_MAX_SECONDS)
    if settings.NOTIFIER_MODE == "pubsub":
        return NotificationSubscriber(
            settings.redis_url(), settings.PAGI_NOTIFICATIONS_CHANNEL, backoff
        )
    group = StreamGroup(
        settings.PAGI_NOTIFICATIONS_STREAM,
        settings.NOTIFIER_GROUP,
        settings.NOTIFIER_CONSUMER,
        settings.NOTIFIER_CLAIM_IDLE_SECONDS,
        settings.NOTIFIER_BATCH,
        settings.NOTIFIER_DONE_TTL_SECONDS,
        settings.NOTIFIER_BATCH_WAIT_MS / 1000,
    )
    return StreamConsumer(settings.redis_url(), group, backoff)
