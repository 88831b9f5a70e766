"""The sandbox service started for real, and small clients for its gRPC and HTTP doors."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from tests.support.core_services import sandbox_process
from tests.support.handles import ServiceEndpoints
from tests.support.processes import (
    ServiceProcess,
    base_env,
    exit_at_start_up,
    free_port,
    http_ready,
    python_service,
)

MODULE = "sandbox"
UID_BASE = 61000
SERVICE_SECRET = "sk-service-secret-4f1c9a"


@dataclass
class Sandbox(ServiceEndpoints):
    process: ServiceProcess
    grpc_port: int
    http_port: int
    work_root: Path

    def call(
        self,
        tool_name: str,
        args_json: str = "",
        timeout_seconds: int = 0,
        memory_limit_mb: int = 0,
        execution_environment: str = "",
        cpu_limit_mhz: int = 0,
    ) -> pb.ToolResponse:
        request = pb.ToolRequest(
            tool_name=tool_name,
            args_json=args_json,
            timeout_seconds=timeout_seconds,
            memory_limit_mb=memory_limit_mb,
            execution_environment=execution_environment,
            cpu_limit_mhz=cpu_limit_mhz,
        )
        with grpc.insecure_channel(self.address) as channel:
            return pb_grpc.ToolServiceStub(channel).ExecuteTool(request, timeout=90)

    def tool(self, tool_name: str, args: dict[str, Any], **limits: Any) -> pb.ToolResponse:
        return self.call(tool_name, json.dumps(args), **limits)

    def run_code(self, code: str, language: str = "python", **limits: Any) -> dict[str, Any]:
        """execute_code over gRPC; the parsed result plus the envelope's status/stderr."""
        reply = self.tool("execute_code", {"language": language, "code": code}, **limits)
        result: dict[str, Any] = json.loads(reply.stdout)
        result["_response"] = {"status": reply.status, "stderr": reply.stderr}
        return result

    def http_tool(self, body: dict[str, Any], path: str = "/execute-tool") -> httpx.Response:
        return httpx.post(self.url + path, json=body, timeout=90)

    def healthy(self) -> bool:
        return httpx.get(self.url + "/health", timeout=5).status_code == 200


def sandbox_service(workdir: Path, **env: str) -> Sandbox:
    """A sandbox (not yet started) with its own work root and slot users, a secret in its
    environment that programs must never see, and clients for both doors."""
    grpc_port, http_port = free_port(), free_port()
    work_root = workdir / "executions"
    work_root.mkdir(exist_ok=True)
    variables = {
        "SANDBOX_WORK_ROOT": str(work_root),
        "SANDBOX_UID_BASE": str(UID_BASE),
        "OPENAI_API_KEY": SERVICE_SECRET,
        **env,
    }
    process = sandbox_process(workdir, http_port, grpc_port, **variables)
    process.log_path = workdir / f"{MODULE}-{grpc_port}.log"
    process.ready = [http_ready(http_port)]  # gRPC may be mTLS-only in some tests
    return Sandbox(process, grpc_port, http_port, work_root)


@contextmanager
def running_sandbox(workdir: Path, **env: str) -> Iterator[Sandbox]:
    """A started sandbox for the with-block; stopped afterwards whatever happens."""
    service = sandbox_service(workdir, **env)
    service.process.start(timeout=60)
    try:
        yield service
    finally:
        service.process.stop()


def start_until_exit(workdir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the service with a configuration expected to stop it at start-up."""
    return exit_at_start_up(python_service(MODULE, base_env(**env), workdir, ready=[]))


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The default service (bubblewrap when available, mock search, concurrency 4)."""
    with running_sandbox(
        tmp_path_factory.mktemp("sandbox"), SANDBOX_MAX_CONCURRENCY="4"
    ) as service:
        yield service


def sandbox_user_processes(uid_base: int = UID_BASE, count: int = 64) -> list[str]:
    """Processes on this machine running as one of the sandbox's slot users."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
        except OSError:
            continue
        uid = int(fields.get("Uid", "-1").split()[0])
        if uid_base <= uid < uid_base + count:
            found.append(f"{status.parent.name} {fields.get('Name', '').strip()}")
    return found


def child_processes(pid: int) -> list[str]:
    """Direct children of pid (zombies included)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        after_name = text.rsplit(")", 1)[1].split()
        if int(after_name[1]) == pid:
            children.append(f"{stat.parent.name} state={after_name[0]}")
    return children


def wait_until_gone(probe: Any, seconds: float = 5.0) -> list[str]:
    """Poll probe() until it returns nothing or the time is up; returns the last answer."""
    deadline = time.monotonic() + seconds
    found: list[str] = probe()
    while found and time.monotonic() < deadline:
        time.sleep(0.1)
        found = probe()
    return found


running_as_root = os.geteuid() == 0


def processes_named(marker: str) -> list[str]:
    """Processes on this machine whose command line contains marker."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in argv:
            found.append(f"{cmdline.parent.name}: {argv[0].decode(errors='replace')}")
    return found
