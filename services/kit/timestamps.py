"""The one form of session-history timestamps, whichever service or client wrote them:
ISO 8601 in UTC with microseconds and a `Z`, e.g. 2026-12-01T14:09:44.123456Z."""

from __future__ import annotations

from datetime import UTC, datetime

STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_stamp(moment: datetime | None = None) -> str:
    """moment (default: now) in the one form; a naive moment is taken as UTC."""
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(STAMP_FORMAT)


def normalise_stamp(text: str) -> str:
    """An ISO 8601 timestamp from any writer (`Z`, `+00:00`, another offset, or none, which
    older Python writers meant as UTC) in the one form; ValueError when it is not one."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {text[:64]!r}") from None
    return utc_stamp(moment)
