"""A fresh, private working directory per execution, removed afterwards."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from services.kit.logs import get_logger
from services.sandbox.isolation import KEEP_USER, Identity

log = get_logger("sandbox.workspace")


@contextmanager
def fresh_workspace(root: str, owner: Identity) -> Iterator[str]:
    """mkdtemp under root (system temp when blank), owned by the program's user."""
    path = tempfile.mkdtemp(prefix="sandbox-", dir=root or None)
    try:
        if owner.uid != KEEP_USER:
            os.chown(path, owner.uid, owner.gid)
        os.chmod(path, 0o700)
        yield path
    finally:
        remove_tree(path)


def remove_tree(path: str) -> None:
    """Remove even what the program made unreadable (chmod 000 directories)."""

    def make_writable(func: object, failed: str, _: object) -> None:
        parent = os.path.dirname(failed)
        os.chmod(parent, stat.S_IRWXU)
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, stat.S_IRWXU)
            shutil.rmtree(failed, ignore_errors=True)
        else:
            os.unlink(failed)

    try:
        shutil.rmtree(path, onerror=make_writable)
    except OSError as exc:
        log.error("workspace_not_removed", path=path, error=str(exc))
