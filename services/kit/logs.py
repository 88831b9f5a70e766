"""Structured JSON logs on stdout: one object per line with timestamp, level, service,
event, the task's bound fields (trace_id, request_id) and the event's fields.

Every call a service answers writes a line, so the line is built cheaply: level, timestamp
and service are added in one step, and plain lines go through one JSONEncoder made once,
without the check for circular values, so the text is what json.dumps writes. A value json
cannot encode falls back to structlog's renderer (repr).

Once a service serves, lines are written in batches (LineWriter, start_batching): the write
itself was about a third of a line's cost in a service answering calls. Until then each
line is written at once, so whoever sees a service answer has its start-up lines.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import sys
import threading
import time
from contextvars import ContextVar
from typing import Any, TextIO

import structlog

# structlog's method names that are not level names (as structlog's add_log_level maps them)
_LEVEL_NAMES = {"warn": "warning", "exception": "error"}
DEFAULT_FLUSH_SECONDS = 0.05
# What the task has bound for its log lines (see bound_field); read once per line.
_BOUND_FIELDS: list[tuple[str, ContextVar[str | None]]] = []


def bound_field(name: str) -> ContextVar[str | None]:
    """A value a task binds for every line it logs from then on, as `name` (a trace id, a
    request id): set the returned variable; None leaves the field out."""
    var: ContextVar[str | None] = ContextVar(f"pagi_log_{name}", default=None)
    _BOUND_FIELDS.append((name, var))
    return var


def add_bound_fields(
    logger: Any, method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    for name, var in _BOUND_FIELDS:
        value = var.get()
        if value is not None:
            event.setdefault(name, value)
    return event


class LineWriter:
    """Where log lines go: a text stream, written in batches.

    A line logged on a thread running an event loop waits there, at most `delay` seconds,
    for others to join it in one write. A line logged anywhere else (a worker thread,
    start-up, shut-down) is written at once, after the ones waiting, so lines keep their
    order. A delay of 0, or a writer not batching yet (`batching`), writes every line at
    once. What waits is written at exit; a process killed outright loses at most the last
    `delay` seconds of lines.
    """

    MAX_WAITING = 256  # lines; more go out at once, without waiting for the timer

    def __init__(self, stream: TextIO, delay: float, batching: bool = True) -> None:
        self._stream = stream
        self.delay = delay
        self.batching = batching  # False: every line at once until start_batching()
        self._lock = threading.Lock()
        self._waiting: list[str] = []
        self._due = 0.0  # when the armed timer flushes; 0: none armed

    def write_line(self, line: str) -> None:
        with self._lock:
            self._waiting.append(line)
            if len(self._waiting) < self.MAX_WAITING and self._timer_will_write():
                return
        self.flush()

    def _timer_will_write(self) -> bool:
        """Whether a timer writes the waiting lines soon: one is armed (and has not been
        overdue for long, as when its loop stopped), or this thread runs a loop to arm one
        on."""
        if not self.batching or self.delay <= 0:
            return False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        now = time.monotonic()
        if self._due:
            return now < self._due + self.delay
        self._due = now + self.delay
        loop.call_later(self.delay, self.flush)
        return True

    # structlog's logger interface: every level is one line
    msg = debug = info = warning = warn = error = critical = exception = write_line

    def flush(self) -> None:
        with self._lock:
            self._due = 0.0
            if not self._waiting:
                return
            text = "\n".join(self._waiting) + "\n"
            self._waiting.clear()
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):  # stdout closed or gone: nowhere left to write
                pass


class _WriterHandler(logging.Handler):
    """Standard-library records onto the same writer, so all lines keep one order."""

    def __init__(self, writer: LineWriter) -> None:
        super().__init__()
        self._writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._writer.write_line(self.format(record))
        except Exception:
            self.handleError(record)


_writer: LineWriter | None = None


def start_batching() -> None:
    """From now on a line waits up to the configured delay to be written with others."""
    if _writer is not None:
        _writer.batching = True


def flush_logs() -> None:
    """Write the lines waiting for their batch now."""
    if _writer is not None:
        _writer.flush()


atexit.register(flush_logs)


def configure_logging(
    service: str, level: str = "INFO", flush_seconds: float = DEFAULT_FLUSH_SECONDS
) -> None:
    """JSON lines for `service` at `level`, on stdout: each at once until start_batching(),
    then each within flush_seconds."""
    global _writer
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    flush_logs()  # lines of an earlier configuration first
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    writer = _writer = LineWriter(sys.stdout, max(0.0, flush_seconds), batching=False)
    structlog.configure(
        processors=[add_bound_fields, LineFields(service), render_json],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda *_: writer,
        cache_logger_on_first_use=True,
    )
    _route_standard_logging(service, numeric, writer)


def _route_standard_logging(service: str, numeric: int, writer: LineWriter) -> None:
    """The standard library's records (uvicorn, grpc, chromadb) in the same format."""
    handler = _WriterHandler(writer)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[
                add_bound_fields,
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


# No check for circular values, which log fields never are (a circular one fails the fast
# path with RecursionError and gets json.dumps's check on the way back).
_plain_encoder = json.JSONEncoder(check_circular=False, default=_not_plain)
_render_any = structlog.processors.JSONRenderer()


def render_json(logger: Any, method: str, event: structlog.types.EventDict) -> str:
    """The event as json.dumps(event) would write it."""
    try:
        return _plain_encoder.encode(event)
    except (TypeError, RecursionError):
        return str(_render_any(logger, method, event))


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
