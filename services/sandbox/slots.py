"""Execution slots: at most N executions at once, each with its own slot number (which
selects the unprivileged user it runs as, so process counts are never shared)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.sandbox.errors import SandboxBusy


class SlotPool:
    def __init__(self, size: int) -> None:
        self.size = size
        self._free = list(range(size))
        self._available = asyncio.Semaphore(size)

    @property
    def in_use(self) -> int:
        return self.size - len(self._free)

    @asynccontextmanager
    async def acquire(self, wait_seconds: float) -> AsyncIterator[int]:
        """Wait up to wait_seconds for a free slot, else raise SandboxBusy."""
        try:
            await asyncio.wait_for(self._available.acquire(), wait_seconds)
        except TimeoutError:
            raise SandboxBusy(
                f"all {self.size} execution slots stayed busy for {wait_seconds:g}s"
            ) from None
        slot = self._free.pop()
        try:
            yield slot
        finally:
            self._free.append(slot)
            self._available.release()
