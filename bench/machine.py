"""A description of the machine a benchmark ran on."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the cores weighs on every figure."""
    return "load average " + " / ".join(f"{load:.2f}" for load in os.getloadavg())


def describe_machine() -> str:
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}; {os.cpu_count()} cores, {cpu_model()}; "
        f"{memory_gib():.1f} GiB RAM; Python {platform.python_version()}; "
        f"{platform.system()} {platform.release()}; {load_average()} at the start"
    )
