"""The circuit breaker's state machine, driven by a controllable clock."""

from __future__ import annotations

import pytest

from services.agent_planner.breaker import BreakerOpenError, BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Rejected(Exception):
    """An error the dependency answered with (not a failure of the dependency)."""


async def fail() -> None:
    raise ConnectionError("down")


async def succeed() -> str:
    return "ok"


async def reject() -> None:
    raise Rejected("bad request")


def make_breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(
        "dep", 5, 30, counts_as_failure=lambda e: not isinstance(e, Rejected), clock=clock
    )


async def trip(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionError):
            await breaker.call(fail)


async def test_opens_after_five_consecutive_failures() -> None:
    breaker = make_breaker(Clock())
    await trip(breaker, 4)
    assert breaker.state is BreakerState.CLOSED
    await trip(breaker, 1)
    assert breaker.state is BreakerState.OPEN
    calls = []

    async def tracked() -> None:
        calls.append(1)

    with pytest.raises(BreakerOpenError, match="dep is open"):
        await breaker.call(tracked)
    assert calls == []


async def test_a_success_resets_the_count() -> None:
    breaker = make_breaker(Clock())
    await trip(breaker, 4)
    assert await breaker.call(succeed) == "ok"
    await trip(breaker, 4)
    assert breaker.state is BreakerState.CLOSED


async def test_answers_with_errors_are_not_failures() -> None:
    breaker = make_breaker(Clock())
    await trip(breaker, 4)
    with pytest.raises(Rejected):
        await breaker.call(reject)
    await trip(breaker, 4)
    assert breaker.state is BreakerState.CLOSED


async def test_one_probe_after_the_window_closes_it_on_success() -> None:
    clock = Clock()
    breaker = make_breaker(clock)
    await trip(breaker, 5)
    clock.now += 29.9
    with pytest.raises(BreakerOpenError):
        await breaker.call(succeed)
    clock.now += 0.2
    assert await breaker.call(succeed) == "ok"
    assert breaker.state is BreakerState.CLOSED


async def test_a_failed_probe_reopens_for_a_full_window() -> None:
    clock = Clock()
    breaker = make_breaker(clock)
    await trip(breaker, 5)
    clock.now += 31
    await trip(breaker, 1)
    assert breaker.state is BreakerState.OPEN
    clock.now += 29
    with pytest.raises(BreakerOpenError):
        await breaker.call(succeed)


async def test_only_one_probe_at_a_time() -> None:
    clock = Clock()
    breaker = make_breaker(clock)
    await trip(breaker, 5)
    clock.now += 31
    second: list[BaseException] = []

    async def slow_probe() -> str:
        try:
            await breaker.call(succeed)
        except BreakerOpenError as exc:
            second.append(exc)
        return "probe"

    assert await breaker.call(slow_probe) == "probe"
    assert len(second) == 1
    assert breaker.state is BreakerState.CLOSED
