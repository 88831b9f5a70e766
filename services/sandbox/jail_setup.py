"""Pick the isolation at start-up and prove it works before taking calls: bwrap can be
installed yet unusable (user namespaces disabled, missing privileges)."""

from __future__ import annotations

import os
import shutil

from services.kit.errors import StartupError
from services.kit.logs import get_logger
from services.sandbox.isolation import Jail, Program, RunControls, choose_mode, warn_isolation_off
from services.sandbox.limits import resolve_limits
from services.sandbox.process_runner import run_confined
from services.sandbox.seccomp_filter import SeccompProgram
from services.sandbox.settings import SandboxSettings
from services.sandbox.workspace import Workspaces

log = get_logger("sandbox.jail")
PROBE_TIMEOUT_SECONDS = 10


async def build_jail(settings: SandboxSettings) -> Jail:
    mode, reason = choose_mode(settings.SANDBOX_ISOLATION)
    jail = Jail(mode, settings.SANDBOX_TMPFS_BYTES, settings.SANDBOX_UID_BASE)
    if mode == "rlimits":
        warn_isolation_off(reason)
        return jail
    problem = await jail_problem(jail, settings)
    if problem is None:
        log.info("bubblewrap_ready", runs_as_slot_users=jail.as_root)
        return jail
    if settings.SANDBOX_ISOLATION == "bubblewrap":
        raise StartupError(f"SANDBOX_ISOLATION=bubblewrap but bwrap does not work: {problem}")
    warn_isolation_off(f"bwrap is installed but failed: {problem}")
    return Jail("rlimits", settings.SANDBOX_TMPFS_BYTES, settings.SANDBOX_UID_BASE)


async def jail_problem(
    jail: Jail, settings: SandboxSettings, seccomp: SeccompProgram | None = None
) -> str | None:
    """None when a trivial program runs confined (under the seccomp filter when given),
    else what went wrong."""
    limits = resolve_limits(PROBE_TIMEOUT_SECONDS, 0, settings)
    identity = jail.identity(0)
    true = shutil.which("true") or "/bin/true"
    fd = seccomp.open_for_child() if seccomp else None
    try:
        async with Workspaces(settings.SANDBOX_WORK_ROOT, None).fresh(identity) as space:
            program = Program("exec", (true,))
            controls = RunControls(seccomp_fd=fd)
            argv = jail.command(program, limits, identity, space.work, 1 << 30, controls)
            env = jail.environment(space.work, space.tmp)
            passed = () if fd is None else (fd,)
            result = await run_confined(argv, env, space.work, PROBE_TIMEOUT_SECONDS, 4096, passed)
    except OSError as exc:
        return str(exc)
    finally:
        if fd is not None:
            os.close(fd)
    if result.exit_code == 0:
        return None
    return (result.stderr or result.stdout).strip() or f"exit code {result.exit_code}"
