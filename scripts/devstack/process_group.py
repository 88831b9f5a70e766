"""Processes in their own process group: launch, check, signal and stop them.

Shared by the dev runner and the test helpers, so both start and stop services the same way:
a service's children (the sandbox's jails, uvicorn workers) die with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path


def launch_in_group(
    argv: list[str],
    env: dict[str, str],
    log_path: Path,
    cwd: Path | None = None,
    append: bool = False,
) -> subprocess.Popen[bytes]:
    """Start argv as the leader of a new session, stdout and stderr into log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab" if append else "wb") as log:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signal every process of the group; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def process_start_time(pid: int) -> str:
    """The kernel's start time of pid (guards against pid reuse); empty where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def pid_alive(pid: int, started: str = "") -> bool:
    """True while pid runs (and, when `started` is given, is still the same process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not started:
        return True
    current = process_start_time(pid)
    return not current or current == started


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Waits until the pids exit (reaping our own children); returns those still alive."""
    remaining = list(pids)
    deadline = time.monotonic() + timeout
    while remaining and time.monotonic() < deadline:
        for pid in list(remaining):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not pid_alive(pid):
                remaining.remove(pid)
        if remaining:
            time.sleep(0.1)
    return remaining


def stop_groups(pids: list[tuple[str, int]], grace: float, warn: Callable[[str], None]) -> None:
    """SIGTERM each named process group, SIGKILL what outlives the grace period."""
    for _, pid in pids:
        signal_group(pid, signal.SIGTERM)
    stubborn = wait_gone([pid for _, pid in pids], grace)
    for name, pid in pids:
        if pid in stubborn:
            warn(f"{name} (pid {pid}) ignored SIGTERM for {grace:g} s; killing it")
            signal_group(pid, signal.SIGKILL)
    wait_gone(stubborn, 5)
    for _, pid in pids:  # anything a service left behind in its group
        signal_group(pid, signal.SIGKILL)
