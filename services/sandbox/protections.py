"""What confines each execution beyond the jail, found once at start-up: the per-execution
cgroup, the seccomp filter and the tmpfs disk quota; and how to say which ones applied."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from services.kit.logs import get_logger
from services.sandbox.cgroups import ExecutionCgroups
from services.sandbox.egress_proxy import EgressProxy
from services.sandbox.egress_rules import EgressRule, narrowed, own_addresses
from services.sandbox.isolation import Identity, Jail
from services.sandbox.jail_setup import jail_problem
from services.sandbox.limits import MIB
from services.sandbox.seccomp_filter import SeccompProgram, build_program
from services.sandbox.settings import SandboxSettings
from services.sandbox.tmpfs import TmpfsQuota
from services.sandbox.workspace import Workspaces

log = get_logger("sandbox.protections")


@dataclass(frozen=True)
class EgressGrant:
    """One execution's way out: its proxy socket and the rules behind it."""

    socket: str
    rules: tuple[EgressRule, ...]

    def describe(self) -> str:
        return f"allowlist proxy: {', '.join(map(str, self.rules)) or 'nothing allowed'}"


@dataclass
class Protections:
    workspaces: Workspaces
    cgroups: ExecutionCgroups | None
    seccomp: SeccompProgram | None
    egress: EgressProxy | None = None
    total_memory_mb: int | None = None  # the ceiling of all executions together

    @classmethod
    async def detect(cls, settings: SandboxSettings, jail: Jail) -> Protections:
        quota = TmpfsQuota(settings.SANDBOX_TMPFS_BYTES, settings.SANDBOX_TMPFS_INODES)
        workspaces = Workspaces.checked(
            settings.SANDBOX_WORK_ROOT, quota if settings.SANDBOX_DISK_QUOTA == "auto" else None
        )
        root = settings.SANDBOX_CGROUP_ROOT.strip()
        cgroups = ExecutionCgroups.detect(Path(root)) if root else None
        total_mb = _cap_total_memory(cgroups, settings.SANDBOX_TOTAL_MEMORY_MB)
        seccomp = await _seccomp(settings, jail)
        found = cls(workspaces, cgroups, seccomp, _egress(settings, jail), total_mb)
        log.info("sandbox_protections", **found.summary(jail))
        return found

    def summary(
        self, jail: Jail, group: bool | None = None, seccomp: bool | None = None
    ) -> dict[str, Any]:
        """Which mechanism enforces each limit: the service's (None) or one run's."""
        cgroup = self.cgroups.describe() if self.cgroups and group is not False else None
        cpu = cgroup is not None and self.cgroups is not None and "cpu" in self.cgroups.parents
        filtered = self.seccomp is not None and seccomp is not False
        swap = " with swap off" if self.cgroups and self.cgroups.swap_limited else ""
        quota = self.workspaces.quota
        return {
            "isolation": jail.mode,
            "memory_limit": f"{cgroup}: whole process tree{swap}"
            if cgroup
            else "address-space rlimit per process (weaker)",
            "process_limit": f"{cgroup}: whole execution"
            if cgroup
            else "process rlimit per user (weaker)",
            "total_memory": f"{self.total_memory_mb} MiB for all executions together"
            if self.total_memory_mb
            else "none",
            "cpu_limit": f"{cgroup} CPU quota" if cpu else "CPU-time rlimit per process",
            "disk_quota": quota.describe() if quota else "none: file-size rlimit only",
            "seccomp": f"{len(self.seccomp.denied)} call groups denied"
            if filtered and self.seccomp
            else "off",
            "user_namespaces": "denied" if filtered or jail.userns_disabled else "allowed",
            "network": self._network(jail),
        }

    def _network(self, jail: Jail) -> str:
        if jail.mode != "bubblewrap":
            return "unrestricted (no network namespace without bubblewrap)"
        if self.egress is None:
            return "none"
        return EgressGrant("", self.egress.rules).describe()

    @asynccontextmanager
    async def egress_grant(
        self, args: dict[str, Any], owner: Identity
    ) -> AsyncIterator[EgressGrant | None]:
        """The execution's proxy socket, with the service's rules narrowed by the request's
        `egress_allow`; None when programs get no network."""
        if self.egress is None:
            yield None
            return
        rules = narrowed(self.egress.rules, args)
        async with self.egress.session(rules, owner) as socket:
            yield EgressGrant(socket, rules)


async def _seccomp(settings: SandboxSettings, jail: Jail) -> SeccompProgram | None:
    """The filter, once a trivial program has run under it (a kernel without seccomp, or
    a bwrap that refuses the program, would otherwise fail every execution)."""
    if jail.mode != "bubblewrap":
        return None
    try:
        program = build_program()
    except OSError as exc:
        log.warning("seccomp_unavailable", error=str(exc))
        return None
    if problem := await jail_problem(jail, settings, program):
        log.warning("seccomp_unavailable", error=problem)
        return None
    return program


def _egress(settings: SandboxSettings, jail: Jail) -> EgressProxy | None:
    if settings.SANDBOX_EGRESS != "allowlist":
        return None
    if jail.mode != "bubblewrap":
        log.warning("egress_allowlist_unenforceable", reason="needs bubblewrap's network namespace")
        return None
    return EgressProxy(settings.egress_rules(), own_addresses(), settings.egress_test_hosts())


def _cap_total_memory(cgroups: ExecutionCgroups | None, setting_mb: int) -> int | None:
    if cgroups is None:
        return None
    total_mb = setting_mb or psutil.virtual_memory().total * 3 // 4 // MIB
    try:
        cgroups.cap_total(total_mb * MIB)
    except OSError as exc:
        log.warning("total_memory_cap_failed", error=str(exc))
        return None
    return total_mb
