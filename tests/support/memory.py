"""Start the real memory service (HTTP + gRPC) for tests of memory and its callers."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.handles import ServiceEndpoints
from tests.support.processes import (
    ServiceProcess,
    base_env,
    free_port,
    grpc_ready,
    http_ready,
    python_service,
)


@dataclass
class MemoryProcess(ServiceProcess, ServiceEndpoints):
    http_port: int = 0
    grpc_port: int = 0

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/health", timeout=10).json()

    def wait_for_ingestion(self, timeout: float = 120) -> dict[str, Any]:
        """Block until start-up ingestion has finished; returns its /health snapshot."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ingestion: dict[str, Any] = self.health().get("ingestion", {})
            if ingestion.get("state") in ("done", "disabled"):
                return ingestion
            if ingestion.get("state") == "failed":
                raise RuntimeError(f"start-up ingestion failed: {ingestion}\n{self.tail()}")
            time.sleep(0.2)
        raise TimeoutError(f"start-up ingestion not done after {timeout}s:\n{self.tail()}")


def memory_env(workdir: Path, **env: str) -> dict[str, str]:
    """Free ports, SQLite and Chroma inside workdir, an empty KB directory unless given."""
    empty_library = workdir / "empty_knowledge_bases"
    empty_library.mkdir(parents=True, exist_ok=True)
    defaults = {
        "MEMORY_PORT": str(free_port()),
        "MEMORY_GRPC_PORT": str(free_port()),
        "SESSION_DB_PATH": str(workdir / "session_history.db"),
        "CHROMA_PERSIST_DIR": str(workdir / "chroma"),
        "KNOWLEDGE_BASES_DIR": str(empty_library),
    }
    return base_env(**(defaults | env))


def memory_process(workdir: Path, **env: str) -> MemoryProcess:
    """A memory service (not yet started) whose ready checks are HTTP health + gRPC health.

    Pass it to the `spawn`/`session_spawn` fixtures, or call `.start()` and `.stop()`.
    Environment overrides (e.g. KNOWLEDGE_BASES_DIR, CHROMA_HOST) go in `env`.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    full_env = memory_env(workdir, **env)
    http_port, grpc_port = int(full_env["MEMORY_PORT"]), int(full_env["MEMORY_GRPC_PORT"])
    plain = python_service(
        "memory", full_env, workdir, ready=[http_ready(http_port), grpc_ready(grpc_port)]
    )
    return MemoryProcess(
        name=plain.name,
        argv=plain.argv,
        env=plain.env,
        cwd=plain.cwd,
        log_path=plain.log_path,
        ready=plain.ready,
        http_port=http_port,
        grpc_port=grpc_port,
    )


@dataclass
class ChromaServerProcess(ServiceProcess):
    port: int = 0


def chroma_server_process(workdir: Path, port: int | None = None) -> ChromaServerProcess:
    """A real `chroma run` server persisting into workdir (not yet started)."""
    port = port or free_port()
    binary = Path(sys.executable).parent / "chroma"
    argv = [str(binary), "run", "--path", str(workdir / "chroma-server"), "--host", "127.0.0.1"]
    return ChromaServerProcess(
        name="chroma",
        argv=[*argv, "--port", str(port)],
        env=base_env(),
        cwd=workdir,
        log_path=workdir / f"chroma-{port}.log",
        ready=[http_ready(port, "/api/v2/heartbeat")],
        port=port,
    )
