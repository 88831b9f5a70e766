"""Remove a directory tree that a hostile program made: any depth (no recursion, no path
longer than one name), any width, entries it made unreadable; never raises."""

from __future__ import annotations

import contextlib
import os
import stat

from services.kit.logs import get_logger

log = get_logger("sandbox.workspace")
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree(path: str) -> bool:
    """Blocking (run it in a thread). True when the tree is gone; any error is logged."""
    try:
        _remove_contents(path)
        os.rmdir(path)
    except FileNotFoundError:
        return True
    except (OSError, ValueError) as exc:
        log.error("workspace_not_removed", path=path, error=f"{type(exc).__name__}: {exc}")
        return False
    return True


def _remove_contents(path: str) -> None:
    """Depth first with one open directory at a time: each level's subdirectories wait on a
    stack of name lists, and the walk climbs back through '..' (the program is dead by now,
    so nothing moves the directories under it)."""
    fd = os.open(path, DIR_FLAGS)
    try:
        pending = [_clear_files(fd)]
        entered: list[str] = []
        while pending:
            if pending[-1]:
                name = pending[-1].pop()
                fd = _step(fd, name, enter=True)
                entered.append(name)
                pending.append(_clear_files(fd))
                continue
            pending.pop()
            if entered:
                fd = _step(fd, "..", enter=False)
                os.rmdir(entered.pop(), dir_fd=fd)
    finally:
        os.close(fd)


def _step(fd: int, name: str, enter: bool) -> int:
    """Open name relative to fd (a subdirectory, made enterable first, or '..') and close
    fd; on failure fd stays open for the caller to close."""
    if enter:
        os.chmod(name, stat.S_IRWXU, dir_fd=fd)
    opened = os.open(name, DIR_FLAGS, dir_fd=fd)
    os.close(fd)
    return opened


def _clear_files(fd: int) -> list[str]:
    """Unlink every non-directory in the directory fd; returns its subdirectories."""
    os.fchmod(fd, stat.S_IRWXU)
    subdirectories = []
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subdirectories.append(entry.name)
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.name, dir_fd=fd)
    return subdirectories
