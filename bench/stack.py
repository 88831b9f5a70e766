"""Start the core stack for a benchmark on free ports, with the repository's knowledge
bases ingested, and stop all of it afterwards."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/x.py` puts bench/, not the repo, on the path
    sys.path.insert(0, str(ROOT))

from tests.support.memory import memory_process  # noqa: E402
from tests.support.processes import ServiceProcess, redis_process  # noqa: E402
from tests.support.stack import (  # noqa: E402
    CoreStack,
    Ports,
    gateway_process,
    notifier_process,
    planner_process,
    sandbox_process,
)

KNOWLEDGE_BASES = ROOT / "knowledge_bases"


def start_stack(workdir: Path, started: list[ServiceProcess]) -> CoreStack:
    """Redis, memory, sandbox, gateway (mock), notifier, planner; each recorded in started."""

    def spawn(proc: ServiceProcess) -> ServiceProcess:
        started.append(proc)
        return proc.start()

    ports = Ports()
    memory = memory_process(workdir / "memory", KNOWLEDGE_BASES_DIR=str(KNOWLEDGE_BASES))
    stack = CoreStack(workdir, ports, memory)
    stack.processes["redis"] = spawn(redis_process(workdir / "redis", ports.redis))
    stack.processes["memory"] = spawn(memory)
    memory.wait_for_ingestion()
    stack.processes["sandbox"] = spawn(
        sandbox_process(workdir / "sandbox", ports.sandbox_http, ports.sandbox_grpc)
    )
    stack.processes["gateway"] = spawn(
        gateway_process(
            workdir / "gateway", ports.gateway_grpc, ports.gateway_http, memory.grpc_port
        )
    )
    stack.processes["notifier"] = spawn(notifier_process(workdir / "notifier", ports.redis))
    stack.processes["planner"] = spawn(
        planner_process(workdir, ports.planner, **stack.planner_env())
    )
    return stack


@contextlib.contextmanager
def running_core_stack() -> Iterator[CoreStack]:
    """The core stack in a temporary directory; every process is stopped on exit."""
    started: list[ServiceProcess] = []
    with tempfile.TemporaryDirectory(prefix="pagi-bench-") as tmp:
        try:
            yield start_stack(Path(tmp), started)
        finally:
            for proc in reversed(started):
                proc.stop()
