"""How a run's events become SSE writes: events ready together share one write, a write
never runs past the terminal event, the one holding it also ends the response body, and a
long backlog is cut into bounded writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

from services.agent_planner.runs.records import RunEvent
from services.agent_planner.runs.routes import event_stream
from services.agent_planner.runs.stream import CHUNK_BYTES, FinalChunk, chunks, encode_event


def event(seq: int, kind: str = "plan.delta", text: str = "x") -> RunEvent:
    return RunEvent("run_1", seq, kind, {"delta": text})


def test_events_ready_together_go_out_in_one_write() -> None:
    events = [event(1, "run.queued"), event(2, "run.started"), event(3)]
    assert list(chunks(events)) == [(b"".join(map(encode_event, events)), 3, False)]


def test_a_write_ends_at_the_terminal_event() -> None:
    events = [event(1), event(2, "run.succeeded"), event(3)]
    written = list(chunks(events))
    assert written == [(encode_event(events[0]) + encode_event(events[1]), 2, True)]
    assert isinstance(written[0][0], FinalChunk)


def test_only_the_terminal_write_is_final() -> None:
    written = list(chunks([event(1, "run.queued"), event(2)]))
    assert not any(isinstance(data, FinalChunk) for data, _, _ in written)


async def body_messages(parts: list[bytes]) -> list[MutableMapping[str, Any]]:
    """The ASGI messages the SSE response sends for a stream yielding `parts`."""

    async def stream() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the client never leaves
        return {"type": "http.disconnect"}

    scope = {"type": "http", "asgi": {"spec_version": "2.3"}}
    await event_stream(stream())(scope, receive, send)
    assert sent[0]["type"] == "http.response.start"
    return sent[1:]


async def test_the_terminal_write_ends_the_body() -> None:
    last = FinalChunk(encode_event(event(2, "run.succeeded")))
    sent = await body_messages([encode_event(event(1)), last])
    assert [(m["body"], m["more_body"]) for m in sent] == [
        (encode_event(event(1)), True),
        (last, False),
    ]


async def test_a_stream_cut_before_its_terminal_event_still_ends_the_body() -> None:
    sent = await body_messages([encode_event(event(1))])
    assert [(m["body"], m["more_body"]) for m in sent] == [
        (encode_event(event(1)), True),
        (b"", False),
    ]


def test_a_backlog_is_cut_into_bounded_writes() -> None:
    big = "y" * (CHUNK_BYTES // 4)
    events = [event(seq, text=big) for seq in range(1, 11)]
    written = list(chunks(events))
    assert len(written) > 1
    assert all(len(data) < CHUNK_BYTES + len(encode_event(events[0])) for data, _, _ in written)
    assert b"".join(data for data, _, _ in written) == b"".join(map(encode_event, events))
    assert [seq for _, seq, _ in written][-1] == 10
