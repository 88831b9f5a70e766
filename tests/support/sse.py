"""A small Server-Sent Events reader over httpx streaming, for tests: parses `id:`,
`event:` and `data:` fields and comment lines exactly as they come over the wire."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

TERMINAL = {"run.succeeded", "run.failed", "run.cancelled", "run.max_turns"}


@dataclass(frozen=True)
class SseEvent:
    id: int | None
    event: str
    data: Any


@dataclass(frozen=True)
class SseComment:
    text: str


def parse_stream(lines: Iterator[str]) -> Iterator[SseEvent | SseComment]:
    fields: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith(":"):
            yield SseComment(line[1:].strip())
        elif line == "":
            if fields:
                yield _event(fields)
                fields = {}
        else:
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
    if fields:
        yield _event(fields)


def _event(fields: dict[str, list[str]]) -> SseEvent:
    event_id = fields.get("id", [None])[-1]
    data = "\n".join(fields.get("data", []))
    return SseEvent(
        int(event_id) if event_id is not None else None,
        fields.get("event", ["message"])[-1],
        json.loads(data) if data else None,
    )


def events_only(items: Iterator[SseEvent | SseComment]) -> Iterator[SseEvent]:
    return (item for item in items if isinstance(item, SseEvent))


def read_events(
    url: str,
    headers: dict[str, str] | None = None,
    until: str | None = None,
    timeout: float = 60,
) -> list[SseEvent]:
    """GET an event stream; every event until the stream closes, or until one of type
    `until` (the connection is then dropped, as a client going away would)."""
    found: list[SseEvent] = []
    with httpx.stream("GET", url, headers=headers, timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in events_only(parse_stream(response.iter_lines())):
            found.append(event)
            if event.event == until:
                break
    return found
