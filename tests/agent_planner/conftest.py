"""Planner fixtures: a planner whose dependencies are all down (for the HTTP surface, auth,
audit and metrics), and the shared full core stack."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.core_services import core_stack, planner_process, unused_address
from tests.support.handles import HttpEndpoint
from tests.support.processes import ServiceProcess, free_port
from tests.support.spawning import Spawner

__all__ = ["core_stack"]
API_KEY = "s3cret-key"


@dataclass
class LonePlanner(HttpEndpoint):
    process: ServiceProcess
    http_port: int
    workdir: Path
    api_key: str | None

    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key} if self.api_key else {}

    def post(self, path: str, body: bytes | str, **headers: str) -> httpx.Response:
        content = body.encode() if isinstance(body, str) else body
        merged = {"Content-Type": "application/json", **self.headers(), **headers}
        return httpx.post(f"{self.url}{path}", content=content, headers=merged, timeout=30)

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, headers=self.headers(), timeout=10)


def start_lone_planner(
    spawn: Spawner, workdir: Path, api_key: str | None = API_KEY, **env: str
) -> LonePlanner:
    """A planner with memory, gateway, sandbox and Redis all unreachable."""
    port = free_port()
    settings = {
        "MODEL_GATEWAY_ADDR": unused_address(),
        "MEMORY_GRPC_ADDR": unused_address(),
        "MEMORY_URL": f"http://{unused_address()}",
        "RUST_SANDBOX_GRPC_ADDR": unused_address(),
        "REDIS_ADDR": unused_address(),
        **({"PAGI_API_KEY": api_key} if api_key else {}),
        **env,
    }
    process = spawn(planner_process(workdir, port, **settings))
    return LonePlanner(process, port, workdir, api_key)


@pytest.fixture(scope="session")
def lone_planner(
    session_spawn: Spawner, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LonePlanner]:
    yield start_lone_planner(session_spawn, tmp_path_factory.mktemp("lone-planner"))
