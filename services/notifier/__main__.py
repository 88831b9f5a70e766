"""`python -m services.notifier`: subscribe until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib

from services.kit.runtime import run, serve, start_service
from services.notifier.settings import NotifierSettings
from services.notifier.subscriber import Backoff, NotificationSubscriber


async def main() -> None:
    settings = start_service(NotifierSettings, "notifier")
    subscriber = NotificationSubscriber(
        settings.redis_url(),
        settings.PAGI_NOTIFICATIONS_CHANNEL,
        Backoff(settings.NOTIFIER_RETRY_INITIAL_SECONDS, settings.NOTIFIER_RETRY_MAX_SECONDS),
    )
    task = asyncio.create_task(subscriber.run_forever(), name="subscriber")

    async def stop_subscriber() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    await serve(cleanups=[stop_subscriber])


if __name__ == "__main__":
    run(main)
