"""How a program is confined: the command line that wraps it in bubblewrap (no network,
read-only system, private /tmp, own PID namespace, seccomp filter) or, without bwrap, in
rlimits only; either way inside the execution's cgroup when there is one.

Either way the program starts through launcher.py, which drops to the slot's user (when
the service runs as root) and applies the rlimits inside the namespaces.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from services.kit.errors import ConfigError
from services.kit.logs import get_logger
from services.sandbox.cgroup_group import ExecutionGroup
from services.sandbox.cpu_limit import cpu_seconds_cap
from services.sandbox.limits import ExecutionLimits

log = get_logger("sandbox.isolation")

LAUNCHER = Path(__file__).with_name("launcher.py")
JAIL_WORKDIR = "/workspace"
JAIL_LAUNCHER = "/opt/sandbox/launcher.py"
EGRESS_SOCKET = "/run/sandbox-egress.sock"  # as launcher.py expects it
PROXY_PORT = 3128
KEEP_USER = -1
SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_ENTRIES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime")
Mode = Literal["bubblewrap", "rlimits"]
# The jail's own processes (the cgroup-joining shell that becomes bwrap, and bwrap's child)
# count against an execution's cgroup process limit too.
JAIL_PROCESSES = 2


@dataclass(frozen=True)
class Program:
    """What to run: a Python script (MODE python) or an executable with arguments."""

    kind: Literal["python", "exec"]
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Identity:
    """The user the program runs as; KEEP_USER leaves the service's user in place."""

    uid: int
    gid: int


def base_interpreter() -> str:
    """The real path of the base Python (not the service's virtualenv)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidate = Path(sys.base_prefix) / "bin" / version
    chosen = candidate if candidate.exists() else Path(sys.executable)
    return os.path.realpath(chosen)


@dataclass(frozen=True)
class RunControls:
    """What confines one run besides the jail itself."""

    group: ExecutionGroup | None = None  # the execution's cgroup
    seccomp_fd: int | None = None  # an open BPF program for bwrap --seccomp
    tmp: str | None = None  # host directory to serve as /tmp; None: bwrap's own tmpfs
    egress_socket: str | None = None  # the execution's egress proxy socket

    @property
    def cpu_quota(self) -> bool:
        return self.group is not None and self.group.cpu_quota


def program_environment(home: str, tmp: str) -> dict[str, str]:
    """Everything the program sees of the environment: nothing of the service's."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MALLOC_ARENA_MAX": "2",
    }


class Jail:
    """Builds the full command line for one confined program."""

    def __init__(
        self, mode: Mode, tmpfs_bytes: int, uid_base: int, python: str | None = None
    ) -> None:
        self.mode = mode
        self.tmpfs_bytes = tmpfs_bytes
        self.python = python or base_interpreter()
        self.as_root = os.geteuid() == 0
        self.uid_base = uid_base
        self._bwrap = shutil.which("bwrap") or "bwrap"
        self._system_args = system_mounts(self.python) if mode == "bubblewrap" else []
        sized = mode == "bubblewrap" and bwrap_has_option("--size")
        self._tmpfs_size = ["--size", str(tmpfs_bytes)] if sized else []
        # Only meaningful with a user namespace (the non-root case); as root the seccomp
        # filter refuses namespace creation instead.
        no_userns = mode == "bubblewrap" and not self.as_root
        self.userns_disabled = no_userns and bwrap_has_option("--disable-userns")

    def identity(self, slot: int) -> Identity:
        """Under bubblewrap as root, slot N runs as uid/gid uid_base+N (never root)."""
        if self.mode == "bubblewrap" and self.as_root:
            return Identity(self.uid_base + slot, self.uid_base + slot)
        return Identity(KEEP_USER, KEEP_USER)

    def workdir_in_jail(self, host_workdir: str) -> str:
        return JAIL_WORKDIR if self.mode == "bubblewrap" else host_workdir

    def command(
        self,
        program: Program,
        limits: ExecutionLimits,
        who: Identity,
        host_workdir: str,
        address_space_bytes: int,
        controls: RunControls,
    ) -> list[str]:
        """The argv of one confined program; with a cgroup its whole tree runs in it, and
        without a CPU quota the CPU share caps each process's CPU time."""
        launcher = JAIL_LAUNCHER if self.mode == "bubblewrap" else str(LAUNCHER)
        share = limits.cpu_share
        launch = [
            self.python,
            "-I",
            launcher,
            str(who.uid),
            str(who.gid),
            str(address_space_bytes),
            str(self._process_rlimit(limits, controls)),
            str(limits.max_file_bytes),
            str(cpu_seconds_cap(limits.timeout_seconds, None if controls.cpu_quota else share)),
            program.kind,
            *program.argv,
        ]
        argv = (
            launch
            if self.mode == "rlimits"
            else [self._bwrap, *self._bwrap_args(host_workdir, controls), "--", *launch]
        )
        return controls.group.join_command(argv) if controls.group else argv

    @staticmethod
    def _process_rlimit(limits: ExecutionLimits, controls: RunControls) -> int:
        """With a cgroup its pids.max is the limit (so the result can name it); the per-user
        rlimit then stays just above it, as a backstop."""
        if controls.group is None:
            return limits.max_processes
        return limits.max_processes + JAIL_PROCESSES + 1

    def environment(self, host_workdir: str, host_tmp: str | None) -> dict[str, str]:
        if self.mode == "bubblewrap":
            return program_environment(JAIL_WORKDIR, "/tmp")
        return program_environment(host_workdir, host_tmp or host_workdir)

    def _bwrap_args(self, host_workdir: str, controls: RunControls) -> list[str]:
        env = program_environment(JAIL_WORKDIR, "/tmp")
        setenv = [arg for name, value in env.items() for arg in ("--setenv", name, value)]
        tmp = (
            ["--bind", controls.tmp, "/tmp"]
            if controls.tmp
            else ["--perms", "1777", *self._tmpfs_size, "--tmpfs", "/tmp"]
        )
        seccomp = [] if controls.seccomp_fd is None else ["--seccomp", str(controls.seccomp_fd)]
        if controls.egress_socket:
            setenv += egress_args(controls.egress_socket)
        return [
            *self._namespace_args(),
            *(["--unshare-user", "--disable-userns"] if self.userns_disabled else []),
            *seccomp,
            "--die-with-parent",
            "--new-session",
            *self._system_args,
            "--perms", "0755", "--dir", "/opt/sandbox",
            "--ro-bind", str(LAUNCHER), JAIL_LAUNCHER,
            "--proc", "/proc",
            "--dev", "/dev",
            *tmp,
            "--bind", host_workdir, JAIL_WORKDIR,
            "--chdir", JAIL_WORKDIR,
            "--clearenv", *setenv,
        ]  # fmt: skip

    def _namespace_args(self) -> list[str]:
        if not self.as_root:
            return ["--unshare-all"]
        # As root: no user namespace (uid 0 inside one would still be exempt from
        # RLIMIT_NPROC); the launcher keeps just enough capability to switch user.
        return [
            "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try",
            "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
        ]  # fmt: skip


def egress_args(socket_path: str) -> list[str]:
    """The proxy socket at the launcher's EGRESS_SOCKET, and the variables that make HTTP
    clients use the forwarder in front of it (no DNS inside: the proxy resolves names)."""
    proxy = f"http://127.0.0.1:{PROXY_PORT}"
    names = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    env = [arg for name in names for arg in ("--setenv", name, proxy)]
    mount_dir = ["--perms", "0755", "--dir", os.path.dirname(EGRESS_SOCKET)]
    return [*mount_dir, "--ro-bind", socket_path, EGRESS_SOCKET, *env]


def bwrap_has_option(option: str) -> bool:
    """Older bwrap (before 0.7) has no --size; the tmpfs is then unbounded."""
    binary = shutil.which("bwrap")
    if binary is None:
        return False
    try:
        shown = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option in shown.stdout + shown.stderr


def system_mounts(python: str) -> list[str]:
    """Read-only binds of the system and the interpreter's installation."""
    args = ["--ro-bind", "/usr", "/usr"]
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--perms", "0755", "--dir", "/etc"]
    for entry in [*(f"/etc/{name}" for name in ETC_ENTRIES), *sorted(glob.glob("/etc/java*"))]:
        args += ["--ro-bind-try", entry, entry]
    prefix = os.path.realpath(Path(python).parent.parent)
    if not prefix.startswith("/usr/"):
        for parent in reversed(Path(prefix).parents[:-1]):
            args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", prefix, prefix]
    return args


def choose_mode(requested: str) -> tuple[Mode, str]:
    """auto: bubblewrap when bwrap is on PATH; returns the mode and, for rlimits, why."""
    has_bwrap = shutil.which("bwrap") is not None
    if requested == "bubblewrap" and not has_bwrap:
        raise ConfigError("SANDBOX_ISOLATION: bubblewrap requested but `bwrap` is not on PATH")
    if requested == "rlimits":
        return "rlimits", "SANDBOX_ISOLATION=rlimits"
    if not has_bwrap:
        return "rlimits", "bwrap not found on PATH"
    return "bubblewrap", ""


def warn_isolation_off(reason: str) -> None:
    log.warning(
        "network_isolation_off",
        reason=reason,
        detail="programs run with rlimits only: they can reach the network and the host "
        "file system, and as root the process cap does not apply",
    )
