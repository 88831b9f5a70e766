"""Start the core stack for a benchmark on free ports and stop all of it afterwards."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/x.py` runs with bench/ as the import root
    sys.path.insert(0, str(ROOT))

from tests.support.processes import ServiceProcess  # noqa: E402
from tests.support.stack import CoreStack, start_core_stack  # noqa: E402


@contextlib.contextmanager
def running_core_stack() -> Iterator[CoreStack]:
    """Redis, memory, sandbox, gateway (mock), notifier and planner in a temporary directory."""
    started: list[ServiceProcess] = []

    def spawn(proc: ServiceProcess) -> ServiceProcess:
        started.append(proc)
        return proc.start()

    with tempfile.TemporaryDirectory(prefix="pagi-bench-") as tmp:
        try:
            yield start_core_stack(spawn, Path(tmp))
        finally:
            for proc in reversed(started):
                proc.stop()
