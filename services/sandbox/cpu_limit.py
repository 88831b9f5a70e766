"""cpu_limit_mhz, enforced. The request's MHz become a share of one core (MHz / the core's
nominal MHz). With a writable cgroup cpu controller (v2 `cpu.max` or v1 `cpu.cfs_quota_us`)
each execution slot gets its own group whose CFS quota throttles the whole process tree;
without one, the launcher's CPU-time rlimit shrinks to the same share of the timeout."""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

from services.kit.logs import get_logger

log = get_logger("sandbox.cpu")
CGROUP_ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000
MIN_QUOTA_US = 1_000  # the kernel's floor for a CFS quota
GROUP_PREFIX = "pagi-sandbox-"
# Runs first inside the new process: join the slot's group, then become the confined command;
# if joining fails nothing runs, so a limit that cannot be applied never goes unenforced.
JOIN_AND_EXEC = 'echo $$ > "$0" && exec "$@"'


def nominal_core_mhz() -> float:
    """The core's maximum clock from cpufreq, else the fastest `cpu MHz` in /proc/cpuinfo."""
    with contextlib.suppress(OSError, ValueError):
        khz = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()
        return int(khz.strip()) / 1000
    speeds = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "cpu MHz":
                with contextlib.suppress(ValueError):
                    speeds.append(float(value))
    return max(speeds, default=1000.0)


def cpu_share(cpu_limit_mhz: int, core_mhz: float) -> float | None:
    """The share of one core a request may use; None when unlimited (0, or a whole core)."""
    if cpu_limit_mhz <= 0 or cpu_limit_mhz >= core_mhz:
        return None
    return cpu_limit_mhz / core_mhz


def cpu_seconds_cap(timeout_seconds: int, share: float | None) -> int:
    """The per-process CPU-time rlimit: past the timeout when unlimited, else its share."""
    if share is None:
        return timeout_seconds + 1
    return max(1, math.ceil(timeout_seconds * share))


@dataclass(frozen=True)
class CpuGroups:
    """One cgroup per execution slot under a group owned by this service process."""

    parent: Path
    version: int  # 1 or 2

    @classmethod
    def detect(cls, root: Path = CGROUP_ROOT) -> CpuGroups | None:
        """Our parent group in the first writable cpu hierarchy, or None."""
        for version, hierarchy in ((2, root), (1, root / "cpu")):
            if version == 2 and "cpu" not in _read(hierarchy / "cgroup.controllers").split():
                continue
            if version == 1 and not (hierarchy / "cpu.cfs_quota_us").exists():
                continue
            _remove_stale_groups(hierarchy)
            parent = hierarchy / f"{GROUP_PREFIX}{os.getpid()}"
            try:
                parent.mkdir(exist_ok=True)
                if version == 2:
                    (parent / "cgroup.subtree_control").write_text("+cpu")
            except OSError as exc:
                log.info("cpu_cgroup_unavailable", hierarchy=str(hierarchy), error=str(exc))
                with contextlib.suppress(OSError):
                    parent.rmdir()
                continue
            return cls(parent, version)
        return None

    def prepare(self, slot: int, share: float) -> Path:
        """Set the slot's quota for the next execution; the file a process writes to join."""
        group = self.parent / f"slot-{slot}"
        group.mkdir(exist_ok=True)
        quota = max(MIN_QUOTA_US, round(PERIOD_US * share))
        if self.version == 2:
            (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
        return group / "cgroup.procs"

    def remove(self) -> None:
        """Remove the (by now empty) groups; a busy group stays for the next start to reap."""
        for group in [*self.parent.glob("slot-*"), self.parent]:
            with contextlib.suppress(OSError):
                group.rmdir()


def join_command(procs: Path, argv: list[str]) -> list[str]:
    """argv started through /bin/sh so its whole tree runs inside the group of `procs`."""
    return ["/bin/sh", "-c", JOIN_AND_EXEC, str(procs), *argv]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _remove_stale_groups(hierarchy: Path) -> None:
    """Groups left by sandbox processes that died without cleaning up."""
    for parent in hierarchy.glob(f"{GROUP_PREFIX}*"):
        pid = parent.name.removeprefix(GROUP_PREFIX)
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            for group in [*parent.glob("slot-*"), parent]:
                with contextlib.suppress(OSError):
                    group.rmdir()
