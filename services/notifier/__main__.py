"""`python -m services.notifier`: subscribe until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib

from services.kit.logs import configure_logging
from services.kit.runtime import run, serve
from services.kit.settings import load_settings
from services.notifier.settings import NotifierSettings
from services.notifier.subscriber import Backoff, NotificationSubscriber


async def main() -> None:
    settings = load_settings(NotifierSettings)
    configure_logging("notifier", settings.LOG_LEVEL)
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
