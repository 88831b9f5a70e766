"""Wait for something to happen by polling it, with a generous deadline that only says
"hung": tests check what happened, never how long it took."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
HUNG_SECONDS = 60.0  # long enough for a loaded 2-core machine; only a hang reaches it


def wait_until(
    check: Callable[[], T], what: str, timeout: float = HUNG_SECONDS, interval: float = 0.1
) -> T:
    """Call check() until it returns something truthy and return that; fail naming `what`
    (and the last value seen) if it never does within timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: still not the case after {timeout:g}s (last: {value!r})")
        time.sleep(interval)
