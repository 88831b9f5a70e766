"""A service built only from the kit (tests/support/kit_server.py), started for real."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvloop

from tests.support.handles import ServiceEndpoints
from tests.support.processes import (
    ServiceProcess,
    base_env,
    free_port,
    grpc_ready,
    http_ready,
)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The kit's async tests run on uvloop, as the services do, and on asyncio's own loop."""
    return {"uvloop": uvloop.new_event_loop, "asyncio": asyncio.new_event_loop}


@dataclass
class KitServer(ServiceEndpoints):
    process: ServiceProcess
    http_port: int
    grpc_port: int


def kit_server_process(workdir: Path, ready: bool = True, **env: str) -> KitServer:
    http_port, grpc_port = free_port(), free_port()
    checks = [http_ready(http_port)] if ready else []
    if ready and "TLS_SERVER_CERT_PATH" not in env:
        checks.append(grpc_ready(grpc_port))
    process = ServiceProcess(
        name="kit_server",
        argv=[sys.executable, "-m", "tests.support.kit_server"],
        env=base_env(**{"KIT_HTTP_PORT": str(http_port), "KIT_GRPC_PORT": str(grpc_port), **env}),
        cwd=workdir,
        log_path=workdir / "kit_server.log",
        ready=checks,
    )
    return KitServer(process, http_port, grpc_port)


StartKit = Callable[..., KitServer]


@pytest.fixture
def start_kit_server(spawn: Callable[[ServiceProcess], ServiceProcess], tmp_path: Path) -> StartKit:
    def start(**env: str) -> KitServer:
        server = kit_server_process(tmp_path, True, **env)
        spawn(server.process)
        return server

    return start
