"""Trace ids carried across HTTP (X-Trace-ID) and gRPC (x-trace-id) and bound into logs."""

from __future__ import annotations

import random

from services.kit.logs import bound_field

TRACE_ID_HEADER = "X-Trace-ID"
TRACE_ID_METADATA = "x-trace-id"

_trace_id = bound_field("trace_id")


# UUID version 4 bits: the version nibble is 4, the variant bits are 10.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_trace_id() -> str:
    """A random UUID4 text. A trace id is a correlation key, not a secret: it comes from
    `random` rather than uuid4's os.urandom, a system call (and twice the work) per call
    answered."""
    hex_id = f"{random.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


def current_trace_id() -> str | None:
    return _trace_id.get()


def trace_headers() -> dict[str, str]:
    """The X-Trace-ID header for an outgoing HTTP call, when a trace id is bound."""
    trace_id = _trace_id.get()
    return {TRACE_ID_HEADER: trace_id} if trace_id else {}


def bind_trace_id(trace_id: str) -> None:
    """Make trace_id the current one for this task: logs and outgoing calls carry it."""
    _trace_id.set(trace_id)


def clean_trace_id(raw: str | None) -> str | None:
    """Accept a caller's id only when it is short printable text (it ends up in logs)."""
    if raw is None:
        return None
    value = raw.strip()
    if not value or len(value) > 128 or not value.isprintable():
        return None
    return value
