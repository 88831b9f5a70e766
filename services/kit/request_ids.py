"""Request ids of the legacy stack: X-Request-Id header, else the body's request_id, else new.

The BFF and the demo agent follow the same rule.
"""

from __future__ import annotations

from typing import Any

from services.kit.logs import bound_field
from services.kit.trace import clean_trace_id, new_trace_id

REQUEST_ID_HEADER = "X-Request-Id"
_request_id = bound_field("request_id")


def resolve_request_id(header: str | None, body: Any = None) -> str:
    """The caller's id when it is short printable text, else a fresh UUID4."""
    from_body = body.get("request_id") if isinstance(body, dict) else None
    for candidate in (header, from_body if isinstance(from_body, str) else None):
        cleaned = clean_trace_id(candidate)
        if cleaned:
            return cleaned
    return new_trace_id()


def bind_request_id(header: str | None, body: Any = None) -> str:
    """Resolve the request id and put it on every log line of this request."""
    request_id = resolve_request_id(header, body)
    _request_id.set(request_id)
    return request_id
