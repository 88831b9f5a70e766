"""The run record in .pids.json: written as services start, read to refuse a second run
and to stop a run from another terminal (even when its runner was killed)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from scripts.devstack.console import Console
from scripts.devstack.errors import RunnerError
from scripts.devstack.plan import stop_tiers
from scripts.devstack.process_group import (
    pid_alive,
    process_start_time,
    stop_groups,
    wait_gone,
)
from scripts.devstack.service import LOG_DIR, Service

PIDS_FILE = Path(".pids.json")


def write_pids(profile: str, services: list[Service], started_at: float) -> None:
    launched = [s for s in services if s.proc is not None]
    record = {
        "profile": profile,
        "runner_pid": os.getpid(),
        "runner_start": process_start_time(os.getpid()),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_at)),
        "pids": {s.name: s.proc.pid for s in launched if s.proc},
        "starts": {s.name: process_start_time(s.proc.pid) for s in launched if s.proc},
        "ports": {s.name: s.ports for s in launched},
        "stop_order": stop_tiers(services),
        "logs": str(LOG_DIR.resolve()),
    }
    temporary = PIDS_FILE.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    temporary.replace(PIDS_FILE)


def read_pids() -> dict[str, Any] | None:
    try:
        record = json.loads(PIDS_FILE.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise RunnerError(f"{PIDS_FILE} is unreadable ({exc}); remove it by hand") from None
    return record if isinstance(record, dict) else None


def live_processes(record: dict[str, Any]) -> dict[str, int]:
    """Name -> pid of every recorded process (runner included) that still runs."""
    starts = record.get("starts", {})
    alive = {
        name: int(pid)
        for name, pid in record.get("pids", {}).items()
        if pid_alive(int(pid), starts.get(name, ""))
    }
    runner = record.get("runner_pid")
    if (
        runner
        and int(runner) != os.getpid()
        and pid_alive(int(runner), record.get("runner_start", ""))
    ):
        alive["runner"] = int(runner)
    return alive


def refuse_if_running(console: Console) -> None:
    record = read_pids()
    if record is None:
        return
    alive = live_processes(record)
    if alive:
        who = ", ".join(f"{name} (pid {pid})" for name, pid in alive.items())
        raise RunnerError(
            f"a {record.get('profile', '?')} run started at {record.get('started_at')} is still "
            f"active: {who}. Stop it first with `python scripts/run_all_dev.py --stop` "
            "(or Ctrl-C in its terminal)."
        )
    console.note(f"removing the stale {PIDS_FILE} of a run that is no longer alive")
    PIDS_FILE.unlink(missing_ok=True)


def recorded_tiers(record: dict[str, Any], alive: dict[str, int]) -> list[list[tuple[str, int]]]:
    """The recorded stop order restricted to what still runs; unrecorded ones last."""
    tiers = [list(tier) for tier in record.get("stop_order", [])]
    listed = {name for tier in tiers for name in tier}
    tiers.append([name for name in reversed(list(alive)) if name not in listed])
    chosen = [[(name, alive[name]) for name in tier if name in alive] for tier in tiers]
    return [tier for tier in chosen if tier]


def stop_previous_run(grace: float, console: Console, profile: str | None) -> int:
    record = read_pids()
    if record is None:
        console.note(f"no run recorded in {PIDS_FILE}; nothing to stop")
        return 0
    if profile and record.get("profile") != profile:
        console.note(f"the recorded run is the {record.get('profile')} profile; stopping it")
    alive = live_processes(record)
    runner = alive.pop("runner", None)
    if runner is not None:
        console.note(f"asking the runner (pid {runner}) to stop its {record.get('profile')} stack")
        with contextlib.suppress(ProcessLookupError):
            os.kill(runner, signal.SIGTERM)
        if wait_gone([runner], grace * 2 + 10):
            console.warn(f"the runner (pid {runner}) did not exit; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(runner, signal.SIGKILL)
        alive = {k: v for k, v in live_processes(record).items() if k != "runner"}
    if alive:
        console.note("stopping " + ", ".join(f"{n} (pid {p})" for n, p in alive.items()))
        for tier in recorded_tiers(record, alive):
            stop_groups(tier, grace, console.warn)
    PIDS_FILE.unlink(missing_ok=True)
    console.note(
        f"stopped the {record.get('profile', '?')} run started at {record.get('started_at')}"
    )
    return 0
