"""The shared batching of concurrent calls: items that arrive while a batch runs go into
the next one (at most `limit` a batch), and a batch that fails as a whole fails each of its
callers."""

from __future__ import annotations

import asyncio

from services.memory.batching import Coalescer


def test_waiting_items_are_answered_together_at_most_limit_at_a_time() -> None:
    batches: list[list[int]] = []

    async def double(items: list[int]) -> list[int | Exception]:
        batches.append(items)
        return [item * 2 for item in items]

    async def scenario() -> list[int]:
        coalescer: Coalescer[int, int] = Coalescer(double, "test-batches", limit=3)
        return await asyncio.gather(*(coalescer.submit(n) for n in range(8)))

    assert asyncio.run(scenario()) == [n * 2 for n in range(8)]
    assert batches == [[0, 1, 2], [3, 4, 5], [6, 7]]


def test_a_batch_that_fails_fails_each_caller_in_it() -> None:
    async def broken(items: list[str]) -> list[str | Exception]:
        raise RuntimeError("engine gone")

    async def scenario() -> list[str | BaseException]:
        coalescer: Coalescer[str, str] = Coalescer(broken, "test-batches")
        callers = [coalescer.submit(text) for text in ("a", "b")]
        return await asyncio.gather(*callers, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert [str(outcome) for outcome in outcomes] == ["engine gone", "engine gone"]
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)


def test_an_exception_as_a_result_fails_only_its_caller() -> None:
    async def some_fail(items: list[int]) -> list[int | Exception]:
        return [ValueError(f"item {i}") if i == 1 else i for i in items]

    async def scenario() -> list[int | BaseException]:
        coalescer: Coalescer[int, int] = Coalescer(some_fail, "test-batches")
        return await asyncio.gather(
            *(coalescer.submit(n) for n in range(3)), return_exceptions=True
        )

    first, second, third = asyncio.run(scenario())
    assert (first, third) == (0, 2)
    assert isinstance(second, ValueError)
