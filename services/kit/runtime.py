"""Run a service: its HTTP app and/or gRPC endpoint in one event loop, stopped gracefully
on SIGTERM/SIGINT; configuration and start-up errors end the process with a clear message.

Every service runs on uvloop: much of a call's CPU is event-loop plumbing (callbacks,
socket reads and writes, thread hand-offs), which uvloop does in C where asyncio's own
loop does it in Python. grpc.aio, uvicorn, aiohttp, httpx and asyncio subprocesses all run
on it unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import uvicorn
import uvloop
from fastapi import FastAPI

from services.kit.direct_routes import ServiceFront
from services.kit.errors import ConfigError, StartupError
from services.kit.grpc_server import GrpcEndpoint
from services.kit.logs import configure_logging, flush_logs, get_logger, start_batching
from services.kit.settings import ServiceSettings, load_settings
from services.kit.tracing import configure_tracing, shutdown_tracing

log = get_logger("runtime")
Cleanup = Callable[[], Awaitable[None]]
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
TICK_SECONDS = 1.0


def start_service(settings_class: type[SettingsT], service: str) -> SettingsT:
    """The first step of every entry point: settings (ConfigError naming bad variables),
    JSON logs for `service`, and tracing when an OTLP endpoint is set."""
    settings = load_settings(settings_class)
    configure_logging(service, settings.LOG_LEVEL, settings.LOG_FLUSH_MS / 1000)
    configure_tracing(settings.OTEL_SERVICE_NAME or service, settings.OTEL_EXPORTER_OTLP_ENDPOINT)
    return settings


class _QuietSignalsServer(uvicorn.Server):
    """uvicorn without its own signal handling (the runtime owns SIGTERM/SIGINT), whose
    housekeeping tick (the Date header, the exit check) runs once a second instead of ten
    times: an idle service wakes up nine times a second fewer. `request_exit` ends the
    wait at once, so stopping is as quick as before."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit_requested = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def request_exit(self) -> None:
        self.should_exit = True
        self._exit_requested.set()

    async def main_loop(self) -> None:
        start_batching()  # started and listening: start-up lines are all out
        counter = 0  # on_tick refreshes the Date header when counter % 10 == 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK_SECONDS):
                    await self._exit_requested.wait()


def _http_server(app: FastAPI, port: int, host: str) -> _QuietSignalsServer:
    config = uvicorn.Config(
        ServiceFront(app),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    return _QuietSignalsServer(config)


async def serve(
    http: tuple[FastAPI, int] | None = None,
    grpc_endpoint: GrpcEndpoint | None = None,
    cleanups: list[Cleanup] | None = None,
    host: str = "127.0.0.1",
) -> None:
    """Serve until a stop signal; then stop taking calls, finish in-flight ones, clean up."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[Any]] = []
    server = None
    # What start-up built (modules, settings, apps, clients) lives as long as the process;
    # out of the collector's sight, a full collection no longer walks it during calls.
    gc.freeze()
    log.info(
        "serving",
        event_loop=type(loop).__module__.partition(".")[0],
        frozen_objects=gc.get_freeze_count(),
    )
    try:
        if grpc_endpoint is not None:
            await grpc_endpoint.start()
        if http is not None:
            server = _http_server(http[0], http[1], host)
            tasks.append(asyncio.create_task(server.serve(), name="http"))
        else:
            start_batching()  # no HTTP server to say when it listens: started now
        tasks.append(asyncio.create_task(stop.wait(), name="stop"))
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task.get_name() == "http" and (server is None or not server.started):
                raise StartupError(f"cannot serve HTTP on port {http[1] if http else '?'}")
        log.info("shutting_down")
    finally:
        if server is not None:
            server.request_exit()
        if grpc_endpoint is not None:
            await grpc_endpoint.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for cleanup in cleanups or []:
            try:
                await cleanup()
            except Exception as exc:  # keep shutting down the rest
                log.warning("cleanup_failed", error=str(exc))
        shutdown_tracing()
        log.info("stopped")
        flush_logs()


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Entry point of `python -m services.<name>`, on uvloop: exit 2 with a message on bad
    config."""
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    except (ConfigError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        log.error("startup_failed", error=str(exc))
        sys.exit(2)
    except KeyboardInterrupt:
        pass
