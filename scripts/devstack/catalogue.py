"""The services the runner knows, and the profiles that group them.

A new service is one ServiceSpec here (and its name in a profile); a new profile is one
Profile. `after` orders the start and, with `calls`, the stop (callers stop first).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic_settings import BaseSettings

from services.agent_planner.settings import PlannerSettings
from services.bff.settings import BffSettings
from services.demo_agent.settings import DemoAgentSettings
from services.memory.settings import MemorySettings
from services.model_gateway.settings import GatewaySettings
from services.notifier.settings import NotifierSettings
from services.sandbox.settings import SandboxSettings


@dataclass(frozen=True)
class Listener:
    """A port a service opens: the Settings field it comes from, what speaks on it, and the
    variables its clients read to reach it (host:port for gRPC, a base URL for HTTP)."""

    field: str
    protocol: Literal["http", "grpc"]
    clients: tuple[str, ...] = ()

    def address(self, port: int) -> str:
        return f"localhost:{port}" if self.protocol == "grpc" else f"http://localhost:{port}"


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # the runner's name: log file, status line, .pids.json
    module: str  # run as `python -m services.<module>`
    trace_name: str  # OTEL_SERVICE_NAME, as in the compose stack
    settings: type[BaseSettings]
    listeners: tuple[Listener, ...] = ()
    probe: str = ""  # the Listener.field whose health check means ready; "" = no probe
    probe_path: str = "/health"  # for an HTTP probe
    ready_marker: str = ""  # without a probe: a log text meaning ready
    after: tuple[str, ...] = ()  # ready before this one starts
    calls: tuple[str, ...] = ()  # also called at run time, but not needed to start
    needs: tuple[str, ...] = ()  # infrastructure without which it is not started


@dataclass(frozen=True)
class Profile:
    services: tuple[str, ...]
    infrastructure: tuple[str, ...] = ()  # started (or found running) before the services
    # Services run as several copies behind nginx on their public ports (scale profile).
    replicas: Mapping[str, int] = field(default_factory=dict)


SPECS = (
    ServiceSpec(
        "memory",
        "memory",
        "memory-service",
        MemorySettings,
        (
            Listener("MEMORY_PORT", "http", ("MEMORY_URL",)),
            Listener("MEMORY_GRPC_PORT", "grpc", ("MEMORY_GRPC_ADDR", "RAG_GRPC_ADDR")),
        ),
        probe="MEMORY_PORT",
        probe_path="/ready",  # ready once start-up ingestion has finished
    ),
    ServiceSpec(
        "sandbox",
        "sandbox",
        "rust-sandbox",
        SandboxSettings,
        (
            Listener("RUST_SANDBOX_PORT", "http", ("RUST_SANDBOX_URL",)),
            Listener("RUST_SANDBOX_GRPC_PORT", "grpc", ("RUST_SANDBOX_GRPC_ADDR",)),
        ),
        probe="RUST_SANDBOX_PORT",
    ),
    ServiceSpec(
        "gateway",
        "model_gateway",
        "model-gateway",
        GatewaySettings,
        (
            Listener("MODEL_GATEWAY_GRPC_PORT", "grpc", ("MODEL_GATEWAY_ADDR",)),
            Listener("MODEL_GATEWAY_HTTP_PORT", "http"),
        ),
        probe="MODEL_GATEWAY_GRPC_PORT",
        calls=("memory",),
    ),
    ServiceSpec(
        "planner",
        "agent_planner",
        "agent-planner",
        PlannerSettings,
        (Listener("AGENT_PLANNER_PORT", "http"),),
        probe="AGENT_PLANNER_PORT",
        after=("memory", "sandbox", "gateway", "redis"),
    ),
    ServiceSpec(
        "notifier",
        "notifier",
        "notification-service",
        NotifierSettings,
        ready_marker='"subscribed"',
        after=("redis",),
        needs=("redis",),
    ),
    ServiceSpec(
        "demo_agent",
        "demo_agent",
        "demo-agent",
        DemoAgentSettings,
        (Listener("PY_AGENT_PORT", "http", ("PY_AGENT_URL",)),),
        probe="PY_AGENT_PORT",
        after=("memory", "gateway"),
        calls=("sandbox",),
    ),
    ServiceSpec(
        "bff",
        "bff",
        "bff",
        BffSettings,
        (Listener("GO_BFF_PORT", "http", ("GO_BFF_URL",)),),
        probe="GO_BFF_PORT",
        calls=("demo_agent", "sandbox", "memory"),
    ),
)
CATALOGUE: dict[str, ServiceSpec] = {spec.name: spec for spec in SPECS}

PROFILES: dict[str, Profile] = {
    "core": Profile(("memory", "sandbox", "gateway", "planner", "notifier"), ("redis",)),
    "legacy": Profile(("sandbox", "memory", "gateway", "demo_agent", "bff")),
    "scale": Profile(
        ("memory", "sandbox", "gateway", "planner", "notifier"),
        ("postgres", "redis", "chroma"),
        replicas={"planner": 3, "memory": 2},
    ),
}
