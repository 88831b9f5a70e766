"""Factories for the core stack's processes (redis, sandbox, gateway, planner, notifier;
memory comes from tests.support.memory) on free ports, and a `CoreStack` that starts them
all in one directory.

Other test packages reuse the session-scoped `core_stack` fixture by importing it into
their conftest: `from tests.support.core_services import core_stack  # noqa: F401`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.support.handles import HttpEndpoint
from tests.support.logs import log_contains
from tests.support.memory import MemoryProcess, memory_process
from tests.support.processes import (
    ServiceProcess,
    base_env,
    free_port,
    grpc_ready,
    http_ready,
    python_service,
    redis_process,
)
from tests.support.spawning import Spawner

STACK_API_KEY = "stack-test-key"


def notifier_process(
    workdir: Path, redis_port: int, channel: str = "pagi_notifications", **env: str
) -> ServiceProcess:
    """The notifier; ready once its log says it subscribed (pass ready_event to change)."""
    ready_event = env.pop("ready_event", "subscribed")
    proc = python_service(
        "notifier",
        base_env(
            REDIS_ADDR=f"127.0.0.1:{redis_port}",
            PAGI_NOTIFICATIONS_CHANNEL=channel,
            NOTIFIER_RETRY_INITIAL_SECONDS="0.2",
            NOTIFIER_RETRY_MAX_SECONDS="1",
            **env,
        ),
        workdir,
        ready=[],
    )
    proc.ready = [log_contains(proc, f'"{ready_event}"')]
    return proc


def sandbox_process(workdir: Path, http_port: int, grpc_port: int, **env: str) -> ServiceProcess:
    return python_service(
        "sandbox",
        base_env(
            **{
                "RUST_SANDBOX_PORT": str(http_port),
                "RUST_SANDBOX_GRPC_PORT": str(grpc_port),
                "WEB_SEARCH_PROVIDER": "mock",
                **env,
            }
        ),
        workdir,
        ready=[http_ready(http_port), grpc_ready(grpc_port)],
    )


def gateway_process(
    workdir: Path,
    grpc_port: int,
    http_port: int,
    memory_grpc_port: int,
    credentials: grpc.ChannelCredentials | None = None,
    **env: str,
) -> ServiceProcess:
    """The model gateway (mock provider unless LLM_PROVIDER is given); pass credentials when
    it serves mTLS so the readiness check can get in."""
    settings = {
        "LLM_PROVIDER": "mock",
        "MODEL_GATEWAY_GRPC_PORT": str(grpc_port),
        "MODEL_GATEWAY_HTTP_PORT": str(http_port),
        "RAG_GRPC_ADDR": f"localhost:{memory_grpc_port}",
        **env,
    }
    return python_service(
        "model_gateway",
        base_env(**settings),
        workdir,
        ready=[grpc_ready(grpc_port, credentials), http_ready(http_port)],
    )


def planner_process(workdir: Path, port: int, **env: str) -> ServiceProcess:
    """The planner; every address must be in env (see CoreStack.planner_env)."""
    settings = {
        "AGENT_PLANNER_PORT": str(port),
        "PAGI_AUDIT_DB_PATH": str(workdir / "pagi_audit.db"),
        **env,
    }
    return python_service(
        "agent_planner", base_env(**settings), workdir, ready=[http_ready(port, "/live")]
    )


def unused_address() -> str:
    """A loopback address nothing listens on (a dependency that is down)."""
    return f"127.0.0.1:{free_port()}"


@dataclass
class Ports:
    redis: int = field(default_factory=free_port)
    sandbox_http: int = field(default_factory=free_port)
    sandbox_grpc: int = field(default_factory=free_port)
    gateway_grpc: int = field(default_factory=free_port)
    gateway_http: int = field(default_factory=free_port)
    planner: int = field(default_factory=free_port)


@dataclass
class PlannerClient(HttpEndpoint):
    """A running planner and the calls tests make to it."""

    process: ServiceProcess
    http_port: int
    api_key: str = STACK_API_KEY

    @property
    def audit_db(self) -> Path:
        return self.process.cwd / "pagi_audit.db"

    def headers(self, **extra: str) -> dict[str, str]:
        return {"X-API-Key": self.api_key, **extra}

    def plan(
        self,
        prompt: str,
        session_id: str,
        trace_id: str | None = None,
        resources: list[dict[str, str]] | None = None,
        timeout: float = 90,
    ) -> httpx.Response:
        headers = self.headers(**({"X-Trace-ID": trace_id} if trace_id else {}))
        body = {"prompt": prompt, "session_id": session_id, "resources": resources or []}
        return httpx.post(f"{self.url}/plan", json=body, headers=headers, timeout=timeout)

    def audit_rows(self, trace_id: str) -> list[dict[str, Any]]:
        reply = httpx.get(
            f"{self.url}/audit", params={"trace_id": trace_id}, headers=self.headers(), timeout=10
        )
        reply.raise_for_status()
        return list(reply.json()["rows"])

    def audit_events(self, trace_id: str) -> list[str]:
        return [row["event_type"] for row in self.audit_rows(trace_id)]

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=10).text

    def metric(self, name: str, **labels: str) -> float:
        """The value of one Prometheus sample (AssertionError when there is none)."""
        for family in text_string_to_metric_families(self.metrics()):
            for found in family.samples:
                if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                    return float(found.value)
        raise AssertionError(f"no sample {name} {labels}")


@dataclass
class CoreStack:
    """Every core service as a real process in `workdir`, wired together on loopback."""

    workdir: Path
    ports: Ports
    memory: MemoryProcess
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    api_key: str = STACK_API_KEY

    @property
    def planner(self) -> PlannerClient:
        return PlannerClient(self.processes["planner"], self.ports.planner, self.api_key)

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.processes[name]

    def planner_env(self, **overrides: str) -> dict[str, str]:
        """Settings pointing a planner at this stack's services (overrides win)."""
        return {
            "MODEL_GATEWAY_ADDR": f"localhost:{self.ports.gateway_grpc}",
            "MEMORY_GRPC_ADDR": self.memory.address,
            "MEMORY_URL": self.memory.url,
            "RUST_SANDBOX_GRPC_ADDR": f"localhost:{self.ports.sandbox_grpc}",
            "REDIS_ADDR": f"127.0.0.1:{self.ports.redis}",
            "PAGI_API_KEY": self.api_key,
            "AGENT_BREAKER_OPEN_SECONDS": "2",
            **overrides,
        }

    def start_openai_gateway(self, spawn: Spawner, workdir: Path, base_url: str, **env: str) -> str:
        """Another gateway, on the openai provider pointed at base_url (a loopback fake) and
        this stack's memory (env overrides any setting); returns its gRPC address."""
        grpc_port, http_port = free_port(), free_port()
        settings = {
            "LLM_PROVIDER": "openai",
            "OPENAI_BASE_URL": base_url,
            "OPENAI_API_KEY": "test-key",
            **env,
        }
        spawn(gateway_process(workdir, grpc_port, http_port, self.memory.grpc_port, **settings))
        return f"localhost:{grpc_port}"

    def start_planner(self, spawn: Spawner, workdir: Path, **overrides: str) -> PlannerClient:
        """Another planner using this stack's services, with some settings overridden."""
        port = free_port()
        proc = spawn(planner_process(workdir, port, **self.planner_env(**overrides)))
        return PlannerClient(proc, port, self.api_key)


def start_core_stack(
    spawn: Spawner, workdir: Path, internal_key: str = "", **memory_env: str
) -> CoreStack:
    """Start redis, memory, sandbox, gateway (mock), notifier and planner, in that order.

    With KNOWLEDGE_BASES_DIR in memory_env, the planner starts once ingestion has finished;
    with internal_key, every service gets it as INTERNAL_API_KEY.
    """
    shared = {"INTERNAL_API_KEY": internal_key} if internal_key else {}
    ports = Ports()
    redis_proc = spawn(redis_process(workdir / "redis", ports.redis))
    memory = memory_process(workdir / "memory", **shared, **memory_env)
    stack = CoreStack(workdir, ports, memory, {"redis": redis_proc})
    stack.processes["memory"] = spawn(memory)
    if "KNOWLEDGE_BASES_DIR" in memory_env:
        memory.wait_for_ingestion()
    stack.processes["sandbox"] = spawn(
        sandbox_process(workdir / "sandbox", ports.sandbox_http, ports.sandbox_grpc, **shared)
    )
    stack.processes["gateway"] = spawn(
        gateway_process(
            workdir / "gateway", ports.gateway_grpc, ports.gateway_http, memory.grpc_port, **shared
        )
    )
    stack.processes["notifier"] = spawn(notifier_process(workdir / "notifier", ports.redis))
    stack.processes["planner"] = spawn(
        planner_process(workdir, ports.planner, **stack.planner_env(**shared))
    )
    return stack


@pytest.fixture(scope="session")
def core_stack(
    session_spawn: Spawner, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CoreStack]:
    """One full core stack for the whole test session (treat it as shared: do not stop it)."""
    yield start_core_stack(session_spawn, tmp_path_factory.mktemp("core-stack"))


class NotificationListener:
    """A test subscriber on the notifications channel; collects every payload it sees."""

    def __init__(self, redis_port: int, channel: str = "pagi_notifications") -> None:
        self.client = redis.Redis(host="127.0.0.1", port=redis_port, socket_timeout=5)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(channel)
        self.received: list[dict[str, Any]] = []

    def for_trace(self, trace_id: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("trace_id") == trace_id]

    def wait_for(
        self, trace_id: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 10
    ) -> list[dict[str, Any]]:
        """Collect until done(payloads of trace_id) holds; return those payloads."""
        deadline = time.monotonic() + timeout
        while not done(self.for_trace(trace_id)) and time.monotonic() < deadline:
            message = self.pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                self.received.append(json.loads(message["data"]))
        return self.for_trace(trace_id)

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()

    def __enter__(self) -> NotificationListener:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def has_status(status: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda payloads: any(p.get("status") == status for p in payloads)
