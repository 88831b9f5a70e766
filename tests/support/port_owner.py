"""Who listens on a TCP port, read from /proc. On a shared machine another test's service
can take a port between free_port() and our service's bind; its answers must not count as
our service being ready."""

from __future__ import annotations

import os
from pathlib import Path

LISTEN = "0A"


def listening_sockets(port: int) -> set[str]:
    """The `socket:[inode]` names of the sockets listening on port (IPv4 and IPv6)."""
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                sockets.add(f"socket:[{inode}]")
    return sockets


def group_members(pgid: int) -> list[int]:
    """The pids of process group pgid."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            after_name = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(after_name[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def group_listens_on(pgid: int, port: int) -> bool:
    """Whether a process of group pgid holds a socket listening on port."""
    wanted = listening_sockets(port)
    if not wanted:
        return False
    for pid in group_members(pgid):
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(descriptor) in wanted:
                    return True
            except OSError:
                continue
    return False
