"""An execution's status from how its program ended and what the kernel counted against
its limits: a program stopped by a limit gets a status naming that limit."""

from __future__ import annotations

from services.sandbox.cgroup_group import GroupUsage
from services.sandbox.process_runner import RunResult


def run_status(result: RunResult) -> str:
    if result.timed_out:
        return "timeout"
    return "ok" if result.exit_code == 0 else "runtime_error"


def limit_status(status: str, usage: GroupUsage | None, disk_full: bool) -> str:
    """An OOM kill always counts (some process of the program was killed); a full process
    table or disk only when the program did not succeed (it may have coped)."""
    if status == "timeout":
        return status
    if usage is not None and usage.oom_kills:
        return "memory_exceeded"
    if status == "ok":
        return status
    if usage is not None and usage.process_limit_hits:
        return "process_limit"
    if disk_full:
        return "disk_exceeded"
    return status
