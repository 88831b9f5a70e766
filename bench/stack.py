"""Start the core stack for a benchmark on free ports, with the repository's knowledge
bases ingested, and stop all of it afterwards; or the stack of another checkout of the
project, for comparisons between trees."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.core_services import CoreStack, start_core_stack
from tests.support.spawning import spawning

KNOWLEDGE_BASES = Path(__file__).resolve().parents[1] / "knowledge_bases"


@contextlib.contextmanager
def running_core_stack(**memory_env: str) -> Iterator[CoreStack]:
    """Redis, memory (knowledge bases ingested, memory_env added to its environment),
    sandbox, gateway (mock), notifier and planner in a temporary directory; every process is
    stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="pagi-bench-") as tmp, spawning() as spawn:
        yield start_core_stack(
            spawn, Path(tmp), **({"KNOWLEDGE_BASES_DIR": str(KNOWLEDGE_BASES)} | memory_env)
        )


@dataclass(frozen=True)
class PlannerTarget:
    """What a load driver needs of a running stack: the planner's URL and headers, and the
    process ids whose CPU is counted, by service."""

    url: str
    headers: dict[str, str]
    pids: dict[str, int]


def planner_target(stack: CoreStack) -> PlannerTarget:
    planner = stack.planner
    pids = {name: proc.pid for name, proc in stack.processes.items()}
    return PlannerTarget(planner.url, planner.headers(), pids)


# Run inside the other checkout: start its stack with its own code, tell where it is, and
# stop it when standard input closes. Trees older than the query cache take no arguments.
_HOST_PROGRAM = """
import json, sys
from bench.stack import running_core_stack
try:
    stack_context = running_core_stack(**json.loads(sys.argv[1]))
except TypeError:
    stack_context = running_core_stack()
with stack_context as stack:
    planner = stack.planner
    pids = {name: proc.pid for name, proc in stack.processes.items()}
    print(json.dumps({"url": planner.url, "headers": planner.headers(), "pids": pids}))
    sys.stdout.flush()
    sys.stdin.read()
"""


@contextlib.contextmanager
def other_tree_stack(root: Path, **memory_env: str) -> Iterator[PlannerTarget]:
    """The core stack of the checkout at root, started by that checkout's own bench code
    (with this interpreter, so the same packages), stopped on exit."""
    host = subprocess.Popen(
        [sys.executable, "-c", _HOST_PROGRAM, json.dumps(memory_env)],
        cwd=root,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(root)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert host.stdin is not None and host.stdout is not None
    try:
        line = host.stdout.readline()
        if not line:
            raise RuntimeError(f"the stack of {root} did not start (exit {host.wait()})")
        where = json.loads(line)
        yield PlannerTarget(where["url"], where["headers"], where["pids"])
    finally:
        host.stdin.close()
        host.wait(timeout=120)
