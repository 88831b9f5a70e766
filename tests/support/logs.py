"""Read what a service wrote to its log: JSON events, and waiting for a line or event."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from services.kit.logs import DEFAULT_FLUSH_SECONDS
from tests.support.processes import ServiceProcess

# Longer than a line logged while a service serves can wait for its batch (LOG_FLUSH_MS,
# by default), with room for a busy event loop.
BATCH_WAIT_SECONDS = DEFAULT_FLUSH_SECONDS + 0.2

LogCheck = Callable[[], bool]


def log_records(text: str) -> list[dict[str, Any]]:
    """Every JSON object line of a log text, oldest first (other lines are skipped)."""
    records = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def log_events(proc: ServiceProcess, event: str) -> list[dict[str, Any]]:
    """The JSON log lines of proc whose event is `event`, oldest first."""
    return [record for record in log_records(proc.log()) if record.get("event") == event]


def log_contains(proc: ServiceProcess, text: str) -> LogCheck:
    return lambda: text in proc.log()


def wait_for_log(proc: ServiceProcess, text: str, timeout: float = 60, after: int = 0) -> str:
    """Wait until `text` appears in proc's log past offset `after`; return the matching line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in proc.log()[after:].splitlines():
            if text in line:
                return line
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the log of {proc.name} after {timeout}s:\n{proc.tail()}")


def logged(
    proc: ServiceProcess, event: str, count: int = 1, timeout: float = 30, **fields: Any
) -> list[dict[str, Any]]:
    """proc's `event` log lines whose fields equal `fields`, once `count` are there or the
    timeout passes (a service writes its request line just after sending the reply)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            record
            for record in log_events(proc, event)
            if all(record.get(name) == value for name, value in fields.items())
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def settled_events(
    proc: ServiceProcess, event: str, count: int = 0, **fields: Any
) -> list[dict[str, Any]]:
    """proc's `event` lines whose fields equal `fields`, once `count` are there (as
    `logged`) and any line still waiting for its batch in the service has been written: for
    exact counts, which one more line would change, and for checks that a line is absent."""
    logged(proc, event, count, **fields)
    wait_for_batches()
    return logged(proc, event, 0, **fields)


def wait_for_batches() -> None:
    """Wait until every line a service logged before now is out of its batch: before reading
    a log for what must not be there (a secret, an error)."""
    time.sleep(BATCH_WAIT_SECONDS)


def settled_log(proc: ServiceProcess) -> str:
    """proc's log, with every line logged before now in it."""
    wait_for_batches()
    return proc.log()
