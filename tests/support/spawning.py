"""The `spawn` and `session_spawn` fixtures: start service processes and stop them all
when the test (or the session) ends; `spawning()`, the same for a `with` block (the
benchmarks). Loaded for every test through `pytest_plugins` in tests/conftest.py; import
`Spawner` from here to annotate them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol, TypeVar

import pytest

from tests.support.processes import ServiceProcess

P = TypeVar("P", bound=ServiceProcess)


class Spawner(Protocol):
    """Starts a process (waiting until it is ready) and returns it, its own type kept."""

    def __call__(self, proc: P) -> P: ...


def _spawner() -> Iterator[Spawner]:
    started: list[ServiceProcess] = []

    def start(proc: P) -> P:
        started.append(proc)
        proc.start()
        return proc

    try:
        yield start
    finally:
        for proc in reversed(started):
            proc.stop()


# The same outside pytest (the benchmarks): every process is stopped when the block ends.
spawning = contextlib.contextmanager(_spawner)


@pytest.fixture
def spawn() -> Iterator[Spawner]:
    """Start service processes for one test; all are stopped afterwards."""
    yield from _spawner()


@pytest.fixture(scope="module")
def module_spawn() -> Iterator[Spawner]:
    """Like spawn, for processes shared by the tests of one module."""
    yield from _spawner()


@pytest.fixture(scope="session")
def session_spawn() -> Iterator[Spawner]:
    """Like spawn, for stacks shared by a whole test session."""
    yield from _spawner()
