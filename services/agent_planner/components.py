"""The planner's parts, built once per process: one gRPC channel per dependency (shared by
its client and the console's health checks), one HTTP session to memory, the audit log, the
notification publisher, and the HTTP app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from fastapi import Depends

from services.agent_planner.audit import AuditLog
from services.agent_planner.auth import (
    NO_BUILTIN_DOCS,
    UnauthorizedError,
    add_docs_routes,
    api_key_guard,
    unauthorized_response,
)
from services.agent_planner.breaker import BreakerState, CircuitBreaker, FailurePredicate
from services.agent_planner.console.pages import add_console_pages
from services.agent_planner.console.views import add_console_views, console_links
from services.agent_planner.errors import is_dependency_failure, is_gateway_process_failure
from services.agent_planner.gateway_client import GatewayClient
from services.agent_planner.loop import LoopDependencies
from services.agent_planner.memory_client import MemoryClient
from services.agent_planner.notifications import NotificationPublisher, StreamTarget
from services.agent_planner.sandbox_client import SandboxClient
from services.agent_planner.settings import PlannerSettings
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.grpc_client import open_channel
from services.kit.http_app import create_app
from services.kit.http_client import ServiceHttpClient
from services.kit.internal_auth import internal_headers
from services.kit.logs import get_logger
from services.kit.runtime import Cleanup

log = get_logger("agent_planner")
SERVICE = "agent-planner"
VERSION = "0.1.0"
# Reconnect quickly once a dependency is back, so a half-open probe can succeed.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


def breaker(
    name: str, settings: PlannerSettings, counts: FailurePredicate = is_dependency_failure
) -> CircuitBreaker:
    return CircuitBreaker(
        name,
        settings.AGENT_BREAKER_FAILURES,
        settings.AGENT_BREAKER_OPEN_SECONDS,
        counts_as_failure=counts,
    )


async def open_dependencies(settings: PlannerSettings, cleanups: list[Cleanup]) -> LoopDependencies:
    """The loop's clients, audit log and publisher; each registers its own cleanup."""
    log.info(
        "dependencies_configured",
        gateway=settings.MODEL_GATEWAY_ADDR,
        grpc_tls=settings.client_tls() is not None,
        memory_grpc=settings.MEMORY_GRPC_ADDR,
        memory_url=settings.MEMORY_URL,
        sandbox=settings.RUST_SANDBOX_GRPC_ADDR,
        redis=settings.redis_url(),
    )
    channels = open_channels(settings, cleanups)
    return LoopDependencies(
        memory=memory_client(settings, channels["memory"], cleanups),
        gateway=gateway_client(settings, channels["gateway"]),
        sandbox=sandbox_client(settings, channels["sandbox"]),
        audit=await open_audit(settings, cleanups),
        notifications=await start_notifications(settings, cleanups),
        channels=channels,
    )


def open_channels(
    settings: PlannerSettings, cleanups: list[Cleanup]
) -> dict[str, grpc.aio.Channel]:
    """The one channel to each gRPC dependency, by service name."""
    return {
        "gateway": channel_to(settings.MODEL_GATEWAY_ADDR, settings, cleanups),
        "memory": channel_to(settings.MEMORY_GRPC_ADDR, settings, cleanups),
        "sandbox": channel_to(settings.RUST_SANDBOX_GRPC_ADDR, settings, cleanups),
    }


def channel_to(
    address: str, settings: PlannerSettings, cleanups: list[Cleanup]
) -> grpc.aio.Channel:
    tls = settings.client_tls()
    channel = open_channel(
        address, tls, settings.TLS_SERVER_NAME, CHANNEL_OPTIONS, settings.internal_key()
    )
    cleanups.append(channel.close)
    log.info("grpc_channel_opened", target=address, tls=tls is not None)
    return channel


def memory_client(
    settings: PlannerSettings, channel: grpc.aio.Channel, cleanups: list[Cleanup]
) -> MemoryClient:
    """History and playbooks over kept HTTP connections, RAG context over gRPC."""
    http = ServiceHttpClient(
        settings.MEMORY_URL,
        settings.AGENT_MEMORY_HTTP_TIMEOUT_SECONDS,
        internal_headers(settings.internal_key()),
    )
    cleanups.append(http.close)
    return MemoryClient(
        http,
        pb_grpc.ModelGatewayStub(channel),
        breaker("memory-rag", settings),
        settings.AGENT_RAG_TIMEOUT_SECONDS,
        settings.MEMORY_MAX_BODY_BYTES,
    )


def gateway_client(settings: PlannerSettings, channel: grpc.aio.Channel) -> GatewayClient:
    return GatewayClient(
        pb_grpc.ModelGatewayStub(channel),
        breaker("model-gateway", settings, is_gateway_process_failure),
        settings.AGENT_GATEWAY_TIMEOUT_SECONDS,
    )


def sandbox_client(settings: PlannerSettings, channel: grpc.aio.Channel) -> SandboxClient:
    return SandboxClient(
        pb_grpc.ToolServiceStub(channel),
        settings.AGENT_TOOL_TIMEOUT_SECONDS,
    )


async def open_audit(settings: PlannerSettings, cleanups: list[Cleanup]) -> AuditLog:
    audit = AuditLog(settings.database(Path(settings.PAGI_AUDIT_DB_PATH)))
    await audit.open()
    cleanups.append(audit.close)
    return audit


async def start_notifications(
    settings: PlannerSettings, cleanups: list[Cleanup]
) -> NotificationPublisher:
    notifications = NotificationPublisher(
        settings.redis_url(),
        settings.PAGI_NOTIFICATIONS_CHANNEL,
        settings.AGENT_REDIS_TIMEOUT_SECONDS,
        StreamTarget(settings.PAGI_NOTIFICATIONS_STREAM, settings.PAGI_NOTIFICATIONS_STREAM_MAXLEN),
    )
    await notifications.start()
    cleanups.append(notifications.close)
    return notifications


def planner_health(deps: LoopDependencies) -> Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]:
    """The planner's own /health extras: breaker states and whether Redis answers."""

    async def health() -> tuple[bool, dict[str, Any]]:
        breakers = {"model_gateway": deps.gateway.breaker, "memory_rag": deps.memory.rag_breaker}
        tripped = any(b.state is not BreakerState.CLOSED for b in breakers.values())
        return True, {
            # Alive, but failing fast on a dependency: say so instead of "ok".
            **({"status": "degraded"} if tripped else {}),
            "breakers": {name: b.state.value for name, b in breakers.items()},
            "notifications": {True: "up", False: "down", None: "unknown"}[
                deps.notifications.available
            ],
        }

    return health


def build_app(settings: PlannerSettings, deps: LoopDependencies) -> Any:
    api_key = settings.api_key()
    if api_key is None:
        log.warning("auth_disabled", hint="set PAGI_API_KEY to require an API key on /plan")

    health = planner_health(deps)

    guarded_docs = api_key is not None and not settings.AGENT_PUBLIC_DOCS
    app = create_app(
        SERVICE,
        VERSION,
        health=health,
        max_body_bytes=settings.AGENT_MAX_BODY_BYTES,
        dependencies=[Depends(api_key_guard(api_key))],
        **(NO_BUILTIN_DOCS if guarded_docs else {}),
    )
    if guarded_docs:
        add_docs_routes(app)
    app.add_exception_handler(UnauthorizedError, unauthorized_response)
    return app


def add_console(
    app: Any, settings: PlannerSettings, deps: LoopDependencies, cleanups: list[Cleanup]
) -> None:
    """The console's pages and the routes it needs beyond the runs and audit APIs, over the
    planner's own channels and an HTTP session of its own."""
    health = planner_health(deps)

    async def status() -> dict[str, Any]:
        return (await health())[1]

    http = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.AGENT_MEMORY_HTTP_TIMEOUT_SECONDS),
        headers=internal_headers(settings.internal_key()),
    )
    cleanups.append(http.close)
    links = console_links(settings, deps, http)
    add_console_views(app, links, status)
    add_console_pages(app, settings.JAEGER_UI_URL)
