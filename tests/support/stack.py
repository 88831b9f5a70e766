"""Factories for the core stack's processes (redis, memory, sandbox, gateway, planner,
notifier) on free ports, and a `CoreStack` that starts them all in one directory.

Other test packages reuse the session-scoped `core_stack` fixture by importing it into
their conftest: `from tests.support.stack import core_stack  # noqa: F401`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.support.processes import ServiceProcess, base_env, python_service

LogCheck = Callable[[], bool]


def log_contains(proc: ServiceProcess, text: str) -> LogCheck:
    return lambda: text in proc.log()


def wait_for_log(proc: ServiceProcess, text: str, timeout: float = 20, after: int = 0) -> str:
    """Wait until `text` appears in proc's log past offset `after`; return the matching line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in proc.log()[after:].splitlines():
            if text in line:
                return line
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the log of {proc.name} after {timeout}s:\n{proc.tail()}")


def notifier_process(
    workdir: Path, redis_port: int, channel: str = "pagi_notifications", **env: str
) -> ServiceProcess:
    """The notifier; ready once its log says it subscribed (pass ready_event to change)."""
    ready_event = env.pop("ready_event", "subscribed")
    proc = python_service(
        "notifier",
        base_env(
            REDIS_ADDR=f"127.0.0.1:{redis_port}",
            PAGI_NOTIFICATIONS_CHANNEL=channel,
            NOTIFIER_RETRY_INITIAL_SECONDS="0.2",
            NOTIFIER_RETRY_MAX_SECONDS="1",
            **env,
        ),
        workdir,
        ready=[],
    )
    proc.ready = [log_contains(proc, f'"{ready_event}"')]
    return proc
