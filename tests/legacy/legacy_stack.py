"""Process factories for the legacy stack's own services (BFF, demo agent) on free ports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.processes import ServiceProcess, base_env, free_port, http_ready, python_service


@dataclass
class HttpService:
    process: ServiceProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_events(self, event: str) -> list[dict[str, Any]]:
        """The service's JSON log lines whose event is `event`."""
        lines = []
        for line in self.process.log().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("event") == event:
                    lines.append(record)
        return lines


def bff_process(workdir: Path, **env: str) -> HttpService:
    port = free_port()
    proc = python_service(
        "bff", base_env(GO_BFF_PORT=str(port), **env), workdir, ready=[http_ready(port)]
    )
    proc.log_path = workdir / f"bff-{port}.log"
    return HttpService(proc, port)


def demo_agent_process(workdir: Path, **env: str) -> HttpService:
    port = free_port()
    proc = python_service(
        "demo_agent", base_env(PY_AGENT_PORT=str(port), **env), workdir, ready=[http_ready(port)]
    )
    proc.log_path = workdir / f"demo_agent-{port}.log"
    return HttpService(proc, port)
