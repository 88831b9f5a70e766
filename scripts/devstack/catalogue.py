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
    """A port a service opens: the Settings field it comes from and what speaks on it."""

    field: str
    protocol: Literal["http", "grpc"]


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
    # Client variables that point at this service, as templates over its port variables.
    addresses: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    services: tuple[str, ...]
    infrastructure: tuple[str, ...] = ()  # started (or found running) before the services


SPECS = (
    ServiceSpec(
        "memory",
        "memory",
        "memory-service",
        MemorySettings,
        (Listener("MEMORY_PORT", "http"), Listener("MEMORY_GRPC_PORT", "grpc")),
        probe="MEMORY_PORT",
        probe_path="/ready",  # ready once start-up ingestion has finished
        addresses={
            "MEMORY_GRPC_ADDR": "localhost:{MEMORY_GRPC_PORT}",
            "RAG_GRPC_ADDR": "localhost:{MEMORY_GRPC_PORT}",
            "MEMORY_URL": "http://localhost:{MEMORY_PORT}",
        },
    ),
    ServiceSpec(
        "sandbox",
        "sandbox",
        "rust-sandbox",
        SandboxSettings,
        (Listener("RUST_SANDBOX_PORT", "http"), Listener("RUST_SANDBOX_GRPC_PORT", "grpc")),
        probe="RUST_SANDBOX_PORT",
        addresses={
            "RUST_SANDBOX_GRPC_ADDR": "localhost:{RUST_SANDBOX_GRPC_PORT}",
            "RUST_SANDBOX_URL": "http://localhost:{RUST_SANDBOX_PORT}",
        },
    ),
    ServiceSpec(
        "gateway",
        "model_gateway",
        "model-gateway",
        GatewaySettings,
        (
            Listener("MODEL_GATEWAY_GRPC_PORT", "grpc"),
            Listener("MODEL_GATEWAY_HTTP_PORT", "http"),
        ),
        probe="MODEL_GATEWAY_GRPC_PORT",
        calls=("memory",),
        addresses={
            "MODEL_GATEWAY_ADDR": "localhost:{MODEL_GATEWAY_GRPC_PORT}",
            "MODEL_GATEWAY_GRPC_HOST": "localhost",
        },
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
        (Listener("PY_AGENT_PORT", "http"),),
        probe="PY_AGENT_PORT",
        after=("memory", "gateway"),
        calls=("sandbox",),
        addresses={"PY_AGENT_URL": "http://localhost:{PY_AGENT_PORT}"},
    ),
    ServiceSpec(
        "bff",
        "bff",
        "bff",
        BffSettings,
        (Listener("GO_BFF_PORT", "http"),),
        probe="GO_BFF_PORT",
        calls=("demo_agent", "sandbox", "memory"),
        addresses={"GO_BFF_URL": "http://localhost:{GO_BFF_PORT}"},
    ),
)
CATALOGUE: dict[str, ServiceSpec] = {spec.name: spec for spec in SPECS}

PROFILES: dict[str, Profile] = {
    "core": Profile(("memory", "sandbox", "gateway", "planner", "notifier"), ("redis",)),
    "legacy": Profile(("sandbox", "memory", "gateway", "demo_agent", "bff")),
}
