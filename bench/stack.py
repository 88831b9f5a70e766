"""Start the core stack for a benchmark on free ports, with the repository's knowledge
bases ingested, and stop all of it afterwards."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.support.core_services import CoreStack, start_core_stack
from tests.support.processes import ServiceProcess

KNOWLEDGE_BASES = Path(__file__).resolve().parents[1] / "knowledge_bases"


@contextlib.contextmanager
def running_core_stack(**memory_env: str) -> Iterator[CoreStack]:
    """Redis, memory (knowledge bases ingested, memory_env added to its environment),
    sandbox, gateway (mock), notifier and planner in a temporary directory; every process is
    stopped on exit."""
    started: list[ServiceProcess] = []

    def spawn(proc: ServiceProcess) -> ServiceProcess:
        started.append(proc)
        return proc.start()

    with tempfile.TemporaryDirectory(prefix="pagi-bench-") as tmp:
        try:
            yield start_core_stack(
                spawn, Path(tmp), **({"KNOWLEDGE_BASES_DIR": str(KNOWLEDGE_BASES)} | memory_env)
            )
        finally:
            for proc in reversed(started):
                proc.stop()
