"""CPU seconds (user + system) of process trees, read from /proc."""

from __future__ import annotations

import os
from collections.abc import Iterable
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
