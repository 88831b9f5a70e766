"""A circuit breaker for one dependency: after N consecutive failures it opens and fails
calls at once; after the open window one probe call is let through (half-open) and its
outcome closes or re-opens the circuit."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

from services.kit.logs import get_logger

T = TypeVar("T")
Clock = Callable[[], float]
FailurePredicate = Callable[[BaseException], bool]
log = get_logger("breaker")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerOpenError(Exception):
    """The circuit is open: the dependency is not called."""

    def __init__(self, name: str, retry_in: float) -> None:
        super().__init__(f"circuit breaker for {name} is open (retry in {retry_in:.1f}s)")
        self.name = name
        self.retry_in = retry_in


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        failure_threshold: int,
        open_seconds: float,
        counts_as_failure: Callable[[BaseException], bool] = lambda _: True,
        clock: Clock = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self.counts_as_failure = counts_as_failure
        self.clock = clock
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.opened_at = 0.0

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run operation through the breaker; raise BreakerOpenError without calling it."""
        self._admit()
        try:
            result = await operation()
        except BaseException as exc:
            self._record_failure(exc)
            raise
        self._record_success()
        return result

    def _admit(self) -> None:
        if self.state is BreakerState.CLOSED:
            return
        remaining = self.opened_at + self.open_seconds - self.clock()
        if self.state is BreakerState.OPEN and remaining <= 0:
            self.state = BreakerState.HALF_OPEN  # this caller is the one probe
            log.info("breaker_half_open", breaker=self.name)
            return
        raise BreakerOpenError(self.name, max(remaining, 0.0))

    def _record_success(self) -> None:
        if self.state is not BreakerState.CLOSED:
            log.info("breaker_closed", breaker=self.name)
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0

    def _record_failure(self, exc: BaseException) -> None:
        if not isinstance(exc, Exception):
            # Cancelled, not failed: let the next caller probe if this was the probe.
            if self.state is BreakerState.HALF_OPEN:
                self.state = BreakerState.OPEN
            return
        if not self.counts_as_failure(exc):
            self._record_success()  # the dependency answered, even if with an error
            return
        self.consecutive_failures += 1
        if self.state is BreakerState.HALF_OPEN or (
            self.consecutive_failures >= self.failure_threshold
        ):
            self._open(exc)

    def _open(self, exc: Exception) -> None:
        self.state = BreakerState.OPEN
        self.opened_at = self.clock()
        log.warning(
            "breaker_opened",
            breaker=self.name,
            consecutive_failures=self.consecutive_failures,
            open_seconds=self.open_seconds,
            error=str(exc) or type(exc).__name__,
        )
