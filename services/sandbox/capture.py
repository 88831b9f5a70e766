"""Read a child's output incrementally, keeping at most a fixed number of bytes."""

from __future__ import annotations

import asyncio
import codecs

CHUNK_BYTES = 64 * 1024


class CappedOutput:
    """Keeps the first `limit` bytes of a stream and counts the rest, which is discarded."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        room = self.limit - len(self._kept)
        if room > 0:
            self._kept += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self) -> str:
        if not self.dropped:
            return bytes(self._kept).decode("utf-8", errors="replace")
        # A character cut by the limit is dropped whole rather than shown as U+FFFD.
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        shown = decoder.decode(bytes(self._kept), final=False)
        dropped = self.dropped + len(decoder.getstate()[0])
        return f"{shown}\n[output truncated: {dropped} more bytes; limit {self.limit} bytes]"


async def drain(stream: asyncio.StreamReader | None, sink: CappedOutput) -> None:
    """Read until EOF, so the child never blocks on a full pipe, keeping only what fits."""
    if stream is None:
        return
    while chunk := await stream.read(CHUNK_BYTES):
        sink.feed(chunk)
