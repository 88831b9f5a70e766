"""The kit's log line: the same JSON object structlog's standard processors would write
(level names, exception text, values json cannot encode), with a UTC microsecond stamp."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import pytest
import structlog

from services.kit.logs import LineFields, render_json

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
