"""Readiness means start-up ingestion has finished: while Chroma's writes are held back,
/health answers 200 with the progress, /ready answers 503 and gRPC health NOT_SERVING (so the
container health check and the dev runner, whose status line shows the progress, wait);
with MEMORY_SERVE_DURING_INGESTION=true the service is ready at once. After the writes go
through, a top_k 1 query over three KBs finds every one of them."""

from __future__ import annotations

import functools
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.devstack.catalogue import CATALOGUE
from scripts.devstack.console import status_line
from scripts.devstack.plan import python_service, read_ports
from scripts.devstack.service import Service
from services.memory.startup_ingestion import IngestionTracker
from tests.memory.conftest import write_library
from tests.support.grpcurl import grpcurl_json
from tests.support.holding_proxy import HoldingProxy
from tests.support.memory import MemoryProcess, chroma_server_process, memory_process
from tests.support.processes import ROOT, http_ready
from tests.support.spawning import Spawner

HEALTH = "grpc.health.v1.Health/Check"
RAG = "modelgateway.ModelGateway/GetRAGContext"
LIBRARY = {
    "Soul-KB/persona.txt": "The assistant is patient and explains its reasoning step by step.",
    "Domain-KB/garden.txt": "Roses are pruned in late winter, just before new growth starts.",
    "Body-KB/tools.txt": "The execute_code tool runs a short Python program in a sandbox.",
}


def get(memory: MemoryProcess, path: str) -> httpx.Response:
    return httpx.get(f"{memory.url}{path}", timeout=10)


def poll(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """check()'s first truthy value; fails after `timeout` seconds (a hung service)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout}s")


def container_probe(port: int, path: str) -> subprocess.CompletedProcess[str]:
    """The compose health check, run the way the container runs it."""
    argv = [sys.executable, str(ROOT / "observability" / "healthcheck.py"), "http", str(port), path]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def runner_memory(memory: MemoryProcess) -> Service:
    """The dev runner's view of this memory service: its readiness check and progress."""
    env = {"MEMORY_PORT": str(memory.http_port), "MEMORY_GRPC_PORT": str(memory.grpc_port)}
    service = python_service(CATALOGUE["memory"], env, read_ports(env))
    service.state, service.started_at = "starting", time.monotonic()
    return service


def runner_status(service: Service) -> str:
    return status_line([service], 1.0, service.started_at, 200)


def planned(memory: MemoryProcess) -> dict[str, Any] | None:
    """The /health ingestion snapshot once the pass knows how many chunks it will embed."""
    ingestion: dict[str, Any] = get(memory, "/health").json()["ingestion"]
    return ingestion if "progress" in ingestion else None


def answering_memory(
    workdir: Path, proxy: HoldingProxy, library: Path, **env: str
) -> MemoryProcess:
    """A memory service on the proxied Chroma, started once its HTTP server answers."""
    memory = memory_process(
        workdir,
        KNOWLEDGE_BASES_DIR=str(library),
        CHROMA_HOST="127.0.0.1",
        CHROMA_PORT=str(proxy.port),
        **env,
    )
    memory.ready = [http_ready(memory.http_port)]
    return memory


def test_ready_only_once_startup_ingestion_finished(tmp_path: Path, spawn: Spawner) -> None:
    chroma = spawn(chroma_server_process(tmp_path))
    library = write_library(tmp_path / "kb", LIBRARY)
    upstream = f"http://127.0.0.1:{chroma.port}"
    with HoldingProxy(upstream, hold=lambda path: path.endswith("/upsert")) as proxy:
        strict = spawn(answering_memory(tmp_path / "strict", proxy, library))
        early = spawn(
            answering_memory(
                tmp_path / "early", proxy, library, MEMORY_SERVE_DURING_INGESTION="true"
            )
        )
        assert isinstance(strict, MemoryProcess) and isinstance(early, MemoryProcess)
        proxy.wait_for_held()
        for memory in (strict, early):
            ingestion = poll(functools.partial(planned, memory), f"{memory.name} planning")
            assert ingestion["state"] == "running"
            assert ingestion["progress"] == {"embedded": 0, "total": 3}

        health = get(strict, "/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        ready = get(strict, "/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready"
        assert ready.json()["error"] == "start-up ingestion running: 0/3 chunks embedded"
        assert grpcurl_json(strict.address, HEALTH, {}) == {"status": "NOT_SERVING"}
        probe = container_probe(strict.http_port, "/ready")
        assert probe.returncode == 1
        assert "HTTP 503: start-up ingestion running: 0/3 chunks embedded" in probe.stderr
        assert container_probe(strict.http_port, "/health").returncode == 0
        runner_view = runner_memory(strict)
        assert runner_view.ready_check is not None and not runner_view.ready_check()
        assert "starting: memory 0s (ingesting 0/3 chunks)" in runner_status(runner_view)

        assert get(early, "/ready").status_code == 200
        assert grpcurl_json(early.address, HEALTH, {}) == {"status": "SERVING"}
        assert get(early, "/health").json()["ingestion"]["state"] == "running"

        proxy.release()
        poll(lambda: get(strict, "/ready").status_code == 200, "strict ready after release")
        assert grpcurl_json(strict.address, HEALTH, {}) == {"status": "SERVING"}
        assert container_probe(strict.http_port, "/ready").returncode == 0
        assert runner_view.ready_check()
        ingestion = get(strict, "/ready").json()["ingestion"]
        assert ingestion["state"] == "done"
        assert ingestion["progress"] == {"embedded": 3, "total": 3}
        kbs = ["Soul-KB", "Domain-KB", "Body-KB"]
        query = {"query": "roses", "top_k": 1, "knowledge_bases": kbs}
        matches = grpcurl_json(strict.address, RAG, query)["matches"]
        assert sorted(m["knowledge_base"] for m in matches) == sorted(kbs)


@pytest.mark.parametrize(
    ("tracker", "reason"),
    [
        (IngestionTracker("done"), ""),
        (IngestionTracker("disabled"), ""),
        (IngestionTracker("pending"), "start-up ingestion is reading the knowledge bases"),
        (IngestionTracker("running"), "start-up ingestion is reading the knowledge bases"),
        (
            IngestionTracker("running", embedded=64, total=200),
            "start-up ingestion running: 64/200 chunks embedded",
        ),
        (
            IngestionTracker("waiting", error="chroma: connection refused"),
            "start-up ingestion waiting for a dependency: chroma: connection refused",
        ),
        (IngestionTracker("failed", error="boom"), "start-up ingestion failed: boom"),
    ],
)
def test_every_unfinished_state_says_why(tracker: IngestionTracker, reason: str) -> None:
    assert tracker.unfinished_reason() == reason
    assert tracker.finished is (reason == "")
