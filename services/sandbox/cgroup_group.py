"""One execution's cgroup: its limits, what the kernel counted against them, killing every
process in it, and its removal."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from services.kit.logs import get_logger

log = get_logger("sandbox.cgroups")
GROUP_PREFIX = "pagi-sandbox-"
PERIOD_US = 100_000
MIN_QUOTA_US = 1_000  # the kernel's floor for a CFS quota
KILL_ROUNDS = 100
EXIT_WAIT_SECONDS = 2.0
# Runs first in the new process: join every group (the count comes first), then become the
# confined command; if joining fails nothing runs, so a limit is never silently missing.
JOIN_AND_EXEC = (
    'n=$0; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n - 1)); done; '
    'exec "$@"'
)


@dataclass(frozen=True)
class GroupUsage:
    oom_kills: int
    process_limit_hits: int


@dataclass(frozen=True)
class ExecutionGroup:
    version: int
    dirs: dict[str, Path]  # controller -> this execution's group (one path on v2)

    @property
    def procs_files(self) -> list[Path]:
        return [directory / "cgroup.procs" for directory in sorted(set(self.dirs.values()))]

    def join_command(self, argv: list[str]) -> list[str]:
        """argv started through /bin/sh so that its whole tree runs inside this group."""
        files = [str(path) for path in self.procs_files]
        return ["/bin/sh", "-c", JOIN_AND_EXEC, str(len(files)), *files, *argv]

    def make(self, memory_bytes: int, max_processes: int, cpu_share: float | None) -> None:
        for directory in set(self.dirs.values()):
            directory.mkdir()
        limit_memory(self.version, self.dirs["memory"], memory_bytes)
        (self.dirs["pids"] / "pids.max").write_text(str(max_processes))
        if cpu_share is not None and "cpu" in self.dirs:
            self._set_cpu_quota(cpu_share)

    @property
    def cpu_quota(self) -> bool:
        return "cpu" in self.dirs

    def _set_cpu_quota(self, share: float) -> None:
        cpu = self.dirs["cpu"]
        quota = max(MIN_QUOTA_US, round(PERIOD_US * share))
        if self.version == 2:
            (cpu / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        else:
            (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (cpu / "cpu.cfs_quota_us").write_text(str(quota))

    def usage(self) -> GroupUsage:
        memory_events = "memory.events" if self.version == 2 else "memory.oom_control"
        return GroupUsage(
            oom_kills=_counter(self.dirs["memory"] / memory_events, "oom_kill"),
            process_limit_hits=_counter(self.dirs["pids"] / "pids.events", "max"),
        )

    def kill_all(self) -> None:
        """SIGKILL every process in the group, including ones forked while we kill."""
        kill_file = self.dirs["pids"] / "cgroup.kill"
        if self.version == 2 and kill_file.exists():
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
                return
        for _ in range(KILL_ROUNDS):
            members = self._members()
            if not members:
                return
            for pid in members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        """Blocking: wait briefly for killed processes to leave, then remove the group."""
        deadline = time.monotonic() + EXIT_WAIT_SECONDS
        while self._members() and time.monotonic() < deadline:
            time.sleep(0.01)
        for directory in set(self.dirs.values()):
            try:
                directory.rmdir()
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("cgroup_not_removed", group=str(directory), error=str(exc))

    def _members(self) -> list[int]:
        members: set[int] = set()
        for procs in self.procs_files:
            members.update(int(pid) for pid in read_text(procs).split())
        return sorted(members)


def limit_memory(version: int, group: Path, memory_bytes: int) -> None:
    """Memory of everything in the group, swap off where the kernel accounts it."""
    if version == 2:
        (group / "memory.max").write_text(str(memory_bytes))
        _write_if_present(group / "memory.swap.max", "0")
    else:
        (group / "memory.limit_in_bytes").write_text(str(memory_bytes))
        _write_if_present(group / "memory.memsw.limit_in_bytes", str(memory_bytes))


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write_if_present(path: Path, value: str) -> None:
    if path.exists():
        path.write_text(value)


def _counter(path: Path, name: str) -> int:
    """A `name value` line of a flat-keyed cgroup file; 0 when absent."""
    for line in read_text(path).splitlines():
        key, _, value = line.partition(" ")
        if key == name and value.strip().isdigit():
            return int(value)
    return 0
