"""Size-limited tmpfs mounts (bytes and inodes) for execution directories. Needs
CAP_SYS_ADMIN; the mount(2)/umount2(2) calls go through libc since Python has no binding."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass

MS_NOSUID = 2
MS_NODEV = 4
MNT_DETACH = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


@dataclass(frozen=True)
class TmpfsQuota:
    """The limits of one execution's tmpfs."""

    size_bytes: int
    inodes: int

    def describe(self) -> str:
        return f"tmpfs {self.size_bytes // (1024 * 1024)} MiB, {self.inodes} inodes"


def mount_tmpfs(path: str, quota: TmpfsQuota, uid: int, gid: int) -> None:
    """Mount a private tmpfs on path, its root owned by uid:gid (-1: the caller) and 0700."""
    options = f"size={quota.size_bytes},nr_inodes={quota.inodes},mode=0700"
    if uid >= 0:
        options += f",uid={uid},gid={gid}"
    flags = MS_NOSUID | MS_NODEV
    if _libc.mount(b"tmpfs", path.encode(), b"tmpfs", flags, options.encode()) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount tmpfs: {os.strerror(error)}", path)


def unmount(path: str) -> None:
    """Detach the mount at once; the kernel frees it when the last user lets go."""
    if _libc.umount2(path.encode(), MNT_DETACH) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"umount: {os.strerror(error)}", path)


def is_full(path: str) -> bool:
    """No free block or no free inode left: what a program that hit the quota sees."""
    try:
        usage = os.statvfs(path)
    except OSError:
        return False
    return usage.f_bavail == 0 or usage.f_favail == 0
