"""Structured JSON logs on stdout: one object per line with timestamp, level, service,
event, trace_id (when bound) and the event's fields.

Every call a service answers writes a line, so the line is built cheaply: level, timestamp
and service are added in one step, and plain lines go through one C JSON encoder made once
(json.dumps makes a new one per call) with json.dumps's separators, so the text is what
json.dumps writes. A value json cannot encode falls back to structlog's renderer (repr).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from _json import make_encoder  # the C encoder behind json.dumps
from typing import Any

import structlog

# structlog's method names that are not level names (as structlog's add_log_level maps them)
_LEVEL_NAMES = {"warn": "warning", "exception": "error"}


def configure_logging(service: str, level: str = "INFO") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            LineFields(service),
            render_json,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    _route_standard_logging(service, numeric)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]


def _route_standard_logging(service: str, numeric: int) -> None:
    """The standard library's records (uvicorn, grpc, chromadb) in the same format."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                LineFields(service),
                structlog.stdlib.add_logger_name,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(max(numeric, logging.INFO) if numeric < logging.INFO else numeric)
    for noisy in ("uvicorn.access", "httpx", "httpcore", "chromadb.telemetry"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class LineFields:
    """level, timestamp (UTC, microseconds, `Z`) and service; an exc_info becomes the
    formatted `exception` field."""

    def __init__(self, service: str) -> None:
        self._service = service
        self._second_text = (-1, "")  # one tuple, so threads never pair a second's text wrongly

    def __call__(
        self, logger: Any, method: str, event: structlog.types.EventDict
    ) -> structlog.types.EventDict:
        event["level"] = _LEVEL_NAMES.get(method, method)
        event["timestamp"] = self._stamp()
        event.setdefault("service", self._service)
        if "exc_info" in event:
            return structlog.processors.format_exc_info(logger, method, event)
        return event

    def _stamp(self) -> str:
        now = time.time()
        second = int(now)
        cached = self._second_text
        if cached[0] != second:  # the date and time part changes once a second
            cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
            self._second_text = cached
        return f"{cached[1]}.{int((now - second) * 1_000_000):06d}Z"


def _not_plain(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not plain JSON")


# markers=None: no check for circular values, which log fields never are (a circular one
# fails the fast path with RecursionError and gets json.dumps's check on the way back).
_encode_plain = make_encoder(
    None, _not_plain, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True
)
_render_any = structlog.processors.JSONRenderer()


def render_json(logger: Any, method: str, event: structlog.types.EventDict) -> str:
    """The event as json.dumps(event) would write it."""
    try:
        return "".join(_encode_plain(event, 0))
    except (TypeError, RecursionError):
        return str(_render_any(logger, method, event))


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
