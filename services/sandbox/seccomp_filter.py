"""The seccomp filter every jailed program runs under (bubblewrap `--seccomp FD`): system
calls that widen the kernel's attack surface or could undo the jail fail with EPERM;
everything else, including what Python and the JVM need, is allowed. Calls of a foreign
ABI (32-bit syscalls on a 64-bit host) kill the process, so the list cannot be bypassed."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

from services.kit.logs import get_logger

log = get_logger("sandbox.seccomp")

DENIED = (
    # namespaces: no nested user (or other) namespaces, no joining the host's
    "setns",
    # io_uring: a large, often-exploited kernel surface
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    # kernel keyring
    "keyctl", "add_key", "request_key",
    # tracing and kernel introspection
    "ptrace", "process_vm_readv", "process_vm_writev", "perf_event_open", "bpf",
    "userfaultfd", "kcmp", "lookup_dcookie", "syslog",
    # mounts
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr",
    # kernel replacement and modules
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    # host-wide state
    "reboot", "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "adjtimex",
    "sethostname", "setdomainname", "quotactl", "name_to_handle_at", "open_by_handle_at",
)  # fmt: skip
NAMESPACE_FLAGS = (
    0x10000000  # CLONE_NEWUSER
    | 0x00020000  # CLONE_NEWNS
    | 0x40000000  # CLONE_NEWNET
    | 0x20000000  # CLONE_NEWPID
    | 0x08000000  # CLONE_NEWIPC
    | 0x04000000  # CLONE_NEWUTS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x00000080  # CLONE_NEWTIME
)


@dataclass(frozen=True)
class SeccompProgram:
    """The compiled BPF program, kept in a memory file; each run reads its own copy."""

    memfd: int
    denied: tuple[str, ...]

    def open_for_child(self) -> int:
        """A new descriptor with its own offset (bwrap reads to the end); caller closes it."""
        return os.open(f"/proc/self/fd/{self.memfd}", os.O_RDONLY)


def build_program() -> SeccompProgram:
    """Raises OSError when libseccomp is missing or refuses the rules."""
    try:
        import pyseccomp as seccomp  # loads libseccomp.so when imported
    except (ImportError, OSError) as exc:
        raise OSError(f"libseccomp is not usable: {exc}") from None
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    denied = [name for name in DENIED if _deny(seccomp, rules, name)]
    for call in ("unshare", "clone"):
        # Any namespace flag in the first argument: refused, whatever else is set.
        for flag in _bits(NAMESPACE_FLAGS):
            has_flag = seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag)
            rules.add_rule(seccomp.ERRNO(errno.EPERM), call, has_flag)
    # clone3 passes its flags in memory a filter cannot read: ENOSYS makes the C library
    # fall back to clone, whose flags the rule above does check.
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    memfd = os.memfd_create("sandbox-seccomp", 0)
    with os.fdopen(os.dup(memfd), "wb") as sink:
        rules.export_bpf(sink)
    return SeccompProgram(memfd, (*denied, "unshare/clone with namespace flags", "clone3"))


def _deny(seccomp: Any, rules: Any, name: str) -> bool:
    """False when this kernel/libseccomp does not know the call (so it cannot be made)."""
    try:
        rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
    except (OSError, ValueError) as exc:
        log.info("seccomp_rule_skipped", syscall=name, error=str(exc))
        return False
    return True


def _bits(mask: int) -> list[int]:
    return [1 << bit for bit in range(mask.bit_length()) if mask & (1 << bit)]
