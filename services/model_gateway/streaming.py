"""StreamPlan's side of a plan call: the chain's deltas become PlanChunk messages, with keys
redacted and a reset flag on the first delta after a retry or fallback that voids earlier
ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable

from services.contracts import modelgateway_pb2 as pb
from services.model_gateway.redaction import Redactor, StreamRedactor


class ChunkSink:
    def __init__(self, redact: Redactor) -> None:
        self._queue: asyncio.Queue[pb.PlanChunk | None] = asyncio.Queue()
        self._redact = redact
        self._redactor = StreamRedactor(redact)
        self._sent_any = False
        self._reset_next = False
        self._ended = False
        self.plan = ""
        self.last: pb.PlanChunk | None = None  # the last delta, sent with the final message

    def delta(self, text: str) -> None:
        chunk = self._chunk(self._redactor.feed(text))
        if chunk is not None:
            self._queue.put_nowait(chunk)

    def restart(self) -> None:
        """A new attempt starts: drop what was held back and void what was sent."""
        self._redactor = StreamRedactor(self._redact)
        self._reset_next = self._reset_next or self._sent_any

    async def chunks(self, work: Awaitable[str]) -> AsyncIterator[pb.PlanChunk]:
        """The delta chunks while `work` runs, then sets `plan` to its result (or raises what
        it raised). A delta the work ended right after is not yielded but left in `last`,
        for the final message to carry (one message fewer: with a model that answers at
        once, the whole text). Leaving the iteration early cancels the work."""
        task = asyncio.ensure_future(work)
        task.add_done_callback(self._work_ended)
        try:
            while (chunk := await self._queue.get()) is not None:
                await asyncio.sleep(0)  # a work that ended with this delta has said so now
                if self._ended and self._queue.qsize() == 1:  # only the end is behind it
                    self.last = chunk
                else:
                    yield chunk
            self.plan = task.result()
        finally:
            if not task.done():
                task.cancel()
        tail = self._redactor.flush()  # text held back in case it started a key
        if tail and self.last is not None:
            self.last.delta += tail
        elif tail:
            self.last = self._chunk(tail)

    def _work_ended(self, _: object) -> None:
        self._ended = True
        self._queue.put_nowait(None)

    def _chunk(self, text: str) -> pb.PlanChunk | None:
        if not text:
            return None
        chunk = pb.PlanChunk(delta=text, reset=self._reset_next)
        self._sent_any, self._reset_next = True, False
        return chunk
