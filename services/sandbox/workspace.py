"""A fresh, private directory per execution: `work/` (the program's home and working
directory) and `tmp/` (its /tmp), together on one size-limited tmpfs when the service may
mount one. Removal runs in a thread and never raises; directories left behind by a sandbox
process that died are swept at start-up."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from services.kit.logs import get_logger
from services.sandbox.isolation import Identity
from services.sandbox.tmpfs import TmpfsQuota, is_full, mount_tmpfs, unmount
from services.sandbox.tree_removal import remove_tree

log = get_logger("sandbox.workspace")
PREFIX = "sandbox-"
# Names carry the owning service's pid, so a start-up sweep knows which ones are orphans.
OWNED_NAME = re.compile(rf"^{PREFIX}(\d+)-")


@dataclass(frozen=True)
class Workspace:
    path: str
    quota: TmpfsQuota | None  # None: a plain directory on the host's disk

    @property
    def work(self) -> str:
        return os.path.join(self.path, "work")

    @property
    def tmp(self) -> str:
        return os.path.join(self.path, "tmp")

    def full(self) -> bool:
        """The program ran out of its tmpfs bytes or inodes."""
        return self.quota is not None and is_full(self.path)


class Workspaces:
    """Makes and discards the execution directories under one root."""

    def __init__(self, root: str, quota: TmpfsQuota | None) -> None:
        self.root = root or tempfile.gettempdir()
        self.quota = quota

    @classmethod
    def checked(cls, root: str, quota: TmpfsQuota | None) -> Workspaces:
        """Keeps the quota only when a trial tmpfs mount works here (it needs root)."""
        workspaces = cls(root, quota)
        if quota is not None and (problem := workspaces.mount_problem()):
            log.warning("disk_quota_unavailable", reason=problem)
            workspaces.quota = None
        return workspaces

    def mount_problem(self) -> str | None:
        assert self.quota is not None
        path = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=self.root)
        try:
            mount_tmpfs(path, self.quota, -1, -1)
        except OSError as exc:
            return str(exc)
        finally:
            discard(path)
        return None

    @asynccontextmanager
    async def fresh(self, owner: Identity) -> AsyncIterator[Workspace]:
        """A new workspace owned by the program's user; removed afterwards, off the loop."""
        path = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=self.root)
        try:
            yield self._prepare(path, owner)
        finally:
            await asyncio.to_thread(discard, path)

    def _prepare(self, path: str, owner: Identity) -> Workspace:
        if self.quota is not None:
            mount_tmpfs(path, self.quota, owner.uid, owner.gid)
        else:
            os.chown(path, owner.uid, owner.gid)
        workspace = Workspace(path, self.quota)
        for directory in (workspace.work, workspace.tmp):
            os.mkdir(directory, 0o700)
            os.chown(directory, owner.uid, owner.gid)
        return workspace

    def sweep_leftovers(self) -> int:
        """Blocking: discard the workspaces of sandbox processes that no longer exist."""
        swept = 0
        try:
            entries = [entry.path for entry in os.scandir(self.root) if _orphaned(entry.name)]
        except OSError as exc:
            log.error("leftover_sweep_failed", root=self.root, error=str(exc))
            return 0
        for path in entries:
            swept += discard(path)
        log.info("leftover_workspaces_swept", root=self.root, count=swept)
        return swept


def _orphaned(name: str) -> bool:
    owner = OWNED_NAME.match(name)
    return owner is not None and not os.path.exists(f"/proc/{owner.group(1)}")


def discard(path: str) -> bool:
    """Blocking: unmount (when a tmpfs) and remove; errors are logged, never raised."""
    log.debug("workspace_removal_started", path=path)
    if os.path.ismount(path):
        try:
            unmount(path)
        except OSError as exc:
            log.error("workspace_not_unmounted", path=path, error=str(exc))
            return False
    removed = remove_tree(path)
    log.debug("workspace_removed", path=path, removed=removed)
    return removed
