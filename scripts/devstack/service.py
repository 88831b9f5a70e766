"""One process the runner starts and tracks: a project service or a piece of infrastructure."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scripts.devstack.probes import Check

LOG_DIR = Path("logs")


@dataclass
class Service:
    name: str
    argv: list[str]
    ports: dict[str, int]  # variable name -> port, as shown to the user
    env: dict[str, str]
    ready_check: Check | None = None  # None: ready at its marker or once alive for a moment
    after: tuple[str, ...] = ()
    calls: tuple[str, ...] = ()
    ready_marker: str = ""
    replica_of: str = ""  # one of several copies of that service (the others carry on)
    # A few words on how far a starting service has come, for the status line.
    progress: Callable[[], str] | None = None
    proc: subprocess.Popen[bytes] | None = None
    state: str = "waiting"  # waiting, starting, ready, failed, stopped
    started_at: float = 0.0
    ready_after: float = 0.0

    @property
    def log_path(self) -> Path:
        return LOG_DIR / f"{self.name}.log"

    @property
    def depends_on(self) -> tuple[str, ...]:
        """Everything this service waits for or talks to: it stops before all of them."""
        return (*self.after, *self.calls)
