"""CPU seconds (user + system) of process trees, read from /proc."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # the process has gone
        return None
    return text[text.rindex(")") + 2 :].split()  # the name in parentheses may hold spaces


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    return parents


def process_tree(roots: Iterable[int]) -> set[int]:
    """roots and all their living descendants."""
    parents = _parents()
    tree = set(roots)
    grew = True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= children
        grew = bool(children)
    return tree


def cpu_seconds(roots: Iterable[int]) -> float:
    """utime + stime of every process in the trees under roots, plus what their reaped
    children used (cutime + cstime)."""
    total_ticks = 0
    for pid in process_tree(roots):
        fields = _stat_fields(pid)
        if fields is not None:
            total_ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return total_ticks / TICKS_PER_SECOND


@contextmanager
def apart_from_us(pid: int) -> Iterator[None]:
    """Run every thread of process `pid` on the last core and this process on the others,
    while the block runs. A server measured this way never shares a core with the client
    driving it: its CPU per call then holds steady from one round to the next, where
    sharing moved it by tens of percent. Nothing changes on a single core."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        yield
        return
    _set_threads_affinity(pid, {cores[-1]})
    os.sched_setaffinity(0, set(cores[:-1]))
    try:
        yield
    finally:
        os.sched_setaffinity(0, set(cores))
        _set_threads_affinity(pid, set(cores))


def _set_threads_affinity(pid: int, cores: set[int]) -> None:
    for task in Path(f"/proc/{pid}/task").iterdir():
        with suppress(OSError):  # a thread that has just ended
            os.sched_setaffinity(int(task.name), cores)
