"""cpu_limit_mhz, enforced. The request's MHz become a share of one core (MHz / the core's
nominal MHz). With a writable cgroup cpu controller (v2 `cpu.max` or v1 `cpu.cfs_quota_us`)
the execution's group gets a CFS quota that throttles the whole process tree (cgroups.py);
without one, the launcher's CPU-time rlimit shrinks to the same share of the timeout."""

from __future__ import annotations

import contextlib
import math
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
