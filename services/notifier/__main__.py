"""`python -m services.notifier`: consume notifications until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib

from services.kit.runtime import run, serve, start_service
from services.notifier.components import build_consumer
from services.notifier.settings import NotifierSettings


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
