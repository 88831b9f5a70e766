"""The legacy stack as real processes on free ports: BFF, demo agent, sandbox, memory and
the gateway (mock provider), wired together on loopback."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.core_services import gateway_process, sandbox_process
from tests.support.handles import HttpEndpoint
from tests.support.logs import logged
from tests.support.memory import MemoryProcess, memory_process
from tests.support.processes import ServiceProcess, base_env, free_port, http_ready, python_service
from tests.support.spawning import Spawner

# Generous, so a busy machine does not fail the stack tests; timeouts are tested with fakes.
STACK_TIMEOUT_SECONDS = "10"


@dataclass
class HttpService(HttpEndpoint):
    process: ServiceProcess
    http_port: int

    def logged(self, event: str, count: int = 1, **fields: Any) -> list[dict[str, Any]]:
        return logged(self.process, event, count, **fields)


def closed_url() -> str:
    """A loopback URL nothing listens on: a neighbour that is down."""
    return f"http://127.0.0.1:{free_port()}"


def bff_process(workdir: Path, port: int, **env: str) -> HttpService:
    proc = python_service(
        "bff", base_env(GO_BFF_PORT=str(port), **env), workdir, ready=[http_ready(port)]
    )
    proc.log_path = workdir / f"bff-{port}.log"
    return HttpService(proc, port)


def demo_agent_process(workdir: Path, port: int, **env: str) -> HttpService:
    proc = python_service(
        "demo_agent", base_env(PY_AGENT_PORT=str(port), **env), workdir, ready=[http_ready(port)]
    )
    proc.log_path = workdir / f"demo_agent-{port}.log"
    return HttpService(proc, port)


def agent_wiring(
    bff_url: str, memory_url: str, sandbox_url: str, gateway_port: int
) -> dict[str, str]:
    return {
        "GO_BFF_URL": bff_url,
        "MEMORY_URL": memory_url,
        "RUST_SANDBOX_URL": sandbox_url,
        "MODEL_GATEWAY_GRPC_HOST": "127.0.0.1",
        "MODEL_GATEWAY_GRPC_PORT": str(gateway_port),
        "REQUEST_TIMEOUT_SECONDS": STACK_TIMEOUT_SECONDS,
    }


@dataclass
class LegacyStack:
    workdir: Path
    bff: HttpService
    agent: HttpService
    sandbox: HttpService
    memory: MemoryProcess
    gateway: ServiceProcess
    gateway_port: int

    def agent_env(self, **overrides: str) -> dict[str, str]:
        """The demo agent's wiring in this stack, with some neighbours replaced."""
        wiring = agent_wiring(self.bff.url, self.memory.url, self.sandbox.url, self.gateway_port)
        return wiring | overrides


def start_legacy_stack(workdir: Path, spawn: Spawner) -> LegacyStack:
    """Build every process, then start them all at once (each waits for its own health)."""
    memory = memory_process(workdir / "memory")
    sandbox_port = free_port()
    sandbox = HttpService(sandbox_process(workdir, sandbox_port, free_port()), sandbox_port)
    gateway_port = free_port()
    gateway = gateway_process(workdir, gateway_port, free_port(), memory.grpc_port)
    bff_port = free_port()
    wiring = agent_wiring(f"http://127.0.0.1:{bff_port}", memory.url, sandbox.url, gateway_port)
    agent = demo_agent_process(workdir, free_port(), **wiring)
    bff = bff_process(
        workdir,
        bff_port,
        PY_AGENT_URL=agent.url,
        RUST_SANDBOX_URL=sandbox.url,
        MEMORY_URL=memory.url,
        REQUEST_TIMEOUT_SECONDS=STACK_TIMEOUT_SECONDS,
    )
    processes = [memory, sandbox.process, gateway, agent.process, bff.process]
    with ThreadPoolExecutor(len(processes)) as pool:
        list(pool.map(spawn, processes))
    return LegacyStack(workdir, bff, agent, sandbox, memory, gateway, gateway_port)


@pytest.fixture(scope="session")
def legacy_stack(session_spawn: Spawner, tmp_path_factory: pytest.TempPathFactory) -> LegacyStack:
    """BFF, demo agent, sandbox, memory and the mock gateway, all real, shared by the session.
    Test packages use it by importing it into their conftest."""
    return start_legacy_stack(tmp_path_factory.mktemp("legacy"), session_spawn)
