"""Calls that arrive while a batch is being answered wait and go together in the next one:
the shared mechanism behind query embeddings (one forward pass for many texts) and RAG
searches (one Chroma query per collection for many vectors)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
# One result per item, in order; an Exception fails that item's caller alone.
AnswerBatch = Callable[[list[Item]], Awaitable[list[Result | Exception]]]


class Coalescer(Generic[Item, Result]):
    """Items submitted while a batch runs are answered together (at most `limit` a batch)."""

    def __init__(
        self, answer: AnswerBatch[Item, Result], name: str, limit: int | None = None
    ) -> None:
        self._answer = answer
        self._name = name
        self._limit = limit
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name=self._name)
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            taken = self._waiting[: self._limit]
            del self._waiting[: self._limit]
            batch = [(item, future) for item, future in taken if not future.done()]
            if batch:  # callers that gave up (cancelled) are not answered
                await self._answer_batch(batch)

    async def _answer_batch(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._answer([item for item, _ in batch])
        except Exception as exc:  # the whole batch failed: every caller in it hears of it
            results = [exc] * len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
