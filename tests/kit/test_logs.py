"""The kit's log line: the same JSON object structlog's standard processors would write
(level names, exception text, values json cannot encode), with a UTC microsecond stamp;
and how lines are batched into writes."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import sys
from collections.abc import MutableMapping
from typing import Any

import pytest
import structlog

from services.kit.logs import LineFields, LineWriter, render_json
from tests.support.processes import base_env

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def standard_line(method: str, event: dict[str, Any]) -> dict[str, Any]:
    fields: MutableMapping[str, Any] = structlog.processors.add_log_level(None, method, dict(event))
    fields.setdefault("service", "svc")
    fields = structlog.processors.format_exc_info(None, method, fields)
    return dict(json.loads(structlog.processors.JSONRenderer()(None, method, fields)))


def kit_line(method: str, event: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(render_json(None, method, LineFields("svc")(None, method, dict(event)))))


def test_lines_match_the_standard_processors_but_for_the_stamp() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        failure = sys.exc_info()
    events: list[tuple[str, dict[str, Any]]] = [
        ("info", {"event": "grpc_request", "code": "OK", "latency_ms": 1.5}),
        ("warn", {"event": "old_name", "service": "caller"}),
        ("exception", {"event": "crashed", "exc_info": failure}),
        ("error", {"event": "odd_value", "value": {1, 2}}),
    ]
    for method, event in events:
        line = kit_line(method, event)
        assert STAMP.match(line.pop("timestamp")), line
        assert line == standard_line(method, event)
    assert "ValueError: boom" in kit_line("exception", events[2][1])["exception"]


def test_the_text_is_what_json_dumps_writes() -> None:
    event = {"event": "e", "text": 'quote " and \\ and é and \u2028', "n": 1e16, "ok": True}
    event |= {"none": None, "items": [1, 2.5, "x"], "nested": {"a": [{}]}, "nan": float("nan")}
    assert render_json(None, "info", event) == json.dumps(event)
    circular: dict[str, object] = {"event": "loop"}
    circular["self"] = circular
    with pytest.raises(ValueError, match="Circular reference"):
        render_json(None, "info", circular)


class Recording(io.StringIO):
    """A stream that keeps each write apart, to see how lines were batched."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)


def test_lines_logged_on_a_loop_go_out_together_within_the_delay() -> None:
    stream = Recording()
    writer = LineWriter(stream, 0.05)

    async def log_some() -> None:
        for line in ("a", "b", "c"):
            writer.write_line(line)
        assert stream.writes == []
        await asyncio.sleep(0.2)
        assert stream.writes == ["a\nb\nc\n"]
        writer.write_line("d")
        await asyncio.sleep(0.2)

    asyncio.run(log_some())
    assert stream.writes == ["a\nb\nc\n", "d\n"]


def test_a_line_off_the_loop_goes_out_at_once_after_the_waiting_ones() -> None:
    stream = Recording()
    writer = LineWriter(stream, 5)

    async def log_from_a_thread() -> None:
        writer.write_line("on the loop")
        await asyncio.to_thread(writer.write_line, "from a thread")

    asyncio.run(log_from_a_thread())
    assert stream.writes == ["on the loop\nfrom a thread\n"]
    writer.write_line("no loop")
    assert stream.writes[-1] == "no loop\n"


def test_a_full_batch_and_a_zero_delay_do_not_wait() -> None:
    stream = Recording()
    writer = LineWriter(stream, 5)
    zero = LineWriter(stream, 0)

    async def log_many() -> None:
        for n in range(LineWriter.MAX_WAITING):
            writer.write_line(str(n))
        assert len(stream.writes) == 1
        assert stream.writes[0].count("\n") == LineWriter.MAX_WAITING
        zero.write_line("at once")
        assert stream.writes[-1] == "at once\n"

    asyncio.run(log_many())


def test_lines_left_by_a_stopped_loop_go_out_with_the_next_one() -> None:
    stream = Recording()
    writer = LineWriter(stream, 5)

    async def log_one() -> None:
        writer.write_line("before the loop stopped")

    asyncio.run(log_one())
    assert stream.writes == []
    writer.write_line("after")
    assert stream.writes == ["before the loop stopped\nafter\n"]


def test_lines_waiting_at_exit_are_written() -> None:
    """Before batching starts a line is written at once; a process that ends while lines
    wait for their batch still writes them, and standard-library records keep their place
    among the others."""
    script = """
import asyncio, logging
from services.kit.logs import configure_logging, get_logger, start_batching
configure_logging("exiting", "INFO", 60)
async def main():
    get_logger("t").info("starting")  # written at once: batching has not started
    print("printed", flush=True)
    start_batching()
    get_logger("t").info("first", n=1)
    logging.getLogger("library").warning("second")
    get_logger("t").info("third")
asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=base_env(),
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[1] == "printed"
    events = [json.loads(line)["event"] for line in lines if line != "printed"]
    assert events == ["starting", "first", "second", "third"]
