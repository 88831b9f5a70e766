"""`python -m services.notifier`: consume notifications until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib

from services.kit.runtime import run, serve, start_service
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
    )
    return StreamConsumer(settings.redis_url(), group, backoff)


async def main() -> None:
    settings = start_service(NotifierSettings, "notifier")
    task = asyncio.create_task(build_consumer(settings).run_forever(), name="consumer")

    async def stop_consumer() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    await serve(cleanups=[stop_consumer])


if __name__ == "__main__":
    run(main)
