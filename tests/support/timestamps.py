"""Check a service's timestamp: UTC, and written between two clock readings of the test."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# Services write milliseconds or microseconds, truncated: allow that much before `before`.
TRUNCATION = timedelta(milliseconds=1)
# The one form of session-history stamps (services.kit.timestamps), written out by hand.
SESSION_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def parse_utc(stamp: str) -> datetime:
    """An RFC 3339 timestamp that says UTC (`Z` or +00:00); anything else fails."""
    moment = datetime.fromisoformat(stamp)
    assert moment.utcoffset() == timedelta(0), f"{stamp!r} is not marked UTC"
    return moment


def assert_utc_between(stamp: str, before: datetime, after: datetime) -> None:
    """stamp is UTC and lies between before and after (both from datetime.now(UTC))."""
    moment = parse_utc(stamp)
    assert before - TRUNCATION <= moment <= after, (
        f"{stamp} is not between {before.isoformat()} and {after.isoformat()}: a local time "
        "labelled UTC is off by the service's TZ offset"
    )


def utc_now() -> datetime:
    return datetime.now(UTC)
