"""One cgroup per execution, so limits hold for the whole process tree rather than per
process: memory (swap off where the kernel accounts it), the number of processes and, when
asked, a CPU quota. cgroup v2 (one hierarchy) or v1 (memory, pids and cpu hierarchies);
without writable memory and pids controllers the service falls back to rlimits (weaker:
per process, and per user for the process count)."""

from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

from services.kit.logs import get_logger
from services.sandbox.cgroup_group import GROUP_PREFIX, ExecutionGroup, limit_memory, read_text

log = get_logger("sandbox.cgroups")
CGROUP_ROOT = Path("/sys/fs/cgroup")
REQUIRED = ("memory", "pids")


@dataclass(frozen=True)
class ExecutionCgroups:
    """Our parent group (one per controller on v1) under which executions get theirs."""

    version: int  # 1 or 2
    parents: dict[str, Path]  # controller -> our parent group
    counter: itertools.count[int] = field(default_factory=itertools.count, compare=False)

    @classmethod
    def detect(cls, root: Path = CGROUP_ROOT) -> ExecutionCgroups | None:
        """The first hierarchy layout with writable memory and pids controllers, or None."""
        for found in (_v2(root), _v1(root)):
            if found is not None:
                return found
        return None

    @property
    def controllers(self) -> tuple[str, ...]:
        return tuple(self.parents)

    @property
    def swap_limited(self) -> bool:
        memory = self.parents["memory"]
        name = "memory.swap.max" if self.version == 2 else "memory.memsw.limit_in_bytes"
        return (memory / name).exists()

    def describe(self) -> str:
        return f"cgroup v{self.version} ({', '.join(self.controllers)})"

    def create(
        self, memory_bytes: int, max_processes: int, cpu_share: float | None
    ) -> ExecutionGroup:
        """A new group with these limits; raises OSError when the kernel refuses one."""
        name = f"exec-{next(self.counter)}"
        group = ExecutionGroup(self.version, {c: p / name for c, p in self.parents.items()})
        try:
            group.make(memory_bytes, max_processes, cpu_share)
        except OSError:
            group.remove()
            raise
        return group

    def cap_total(self, memory_bytes: int) -> None:
        """One ceiling for all executions together, however many run at once."""
        limit_memory(self.version, self.parents["memory"], memory_bytes)

    def remove(self) -> None:
        """Remove our (by now empty) groups; a busy one is reaped by the next start."""
        for parent in set(self.parents.values()):
            _remove_parent(parent)


def _v2(root: Path) -> ExecutionCgroups | None:
    available = read_text(root / "cgroup.controllers").split()
    if not all(name in available for name in REQUIRED):
        return None
    wanted = [name for name in ("memory", "pids", "cpu") if name in available]
    with contextlib.suppress(OSError):  # already enabled, or delegated to us below the root
        (root / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
    parent = _make_parent(root)
    if parent is None:
        return None
    try:
        (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
    except OSError as exc:
        log.info("cgroup_unavailable", hierarchy=str(root), error=str(exc))
        _remove_parent(parent)
        return None
    return ExecutionCgroups(2, {name: parent for name in wanted})


def _v1(root: Path) -> ExecutionCgroups | None:
    hierarchies = {
        name: root / name
        for name in ("memory", "pids", "cpu")
        if (root / name / "cgroup.procs").exists()
    }
    if not all(name in hierarchies for name in REQUIRED):
        return None
    parents: dict[str, Path] = {}
    for name, hierarchy in hierarchies.items():
        parent = _make_parent(hierarchy)
        if parent is None:
            for made in parents.values():
                _remove_parent(made)
            return None
        parents[name] = parent
    return ExecutionCgroups(1, parents)


def _make_parent(hierarchy: Path) -> Path | None:
    _remove_stale_parents(hierarchy)
    parent = hierarchy / f"{GROUP_PREFIX}{os.getpid()}"
    try:
        parent.mkdir(exist_ok=True)
    except OSError as exc:
        log.info("cgroup_unavailable", hierarchy=str(hierarchy), error=str(exc))
        return None
    return parent


def _remove_parent(parent: Path) -> None:
    for group in [*parent.glob("exec-*"), *parent.glob("slot-*"), parent]:
        with contextlib.suppress(OSError):
            group.rmdir()


def _remove_stale_parents(hierarchy: Path) -> None:
    """Groups left by sandbox processes that died without cleaning up."""
    for parent in hierarchy.glob(f"{GROUP_PREFIX}*"):
        pid = parent.name.removeprefix(GROUP_PREFIX)
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _remove_parent(parent)
