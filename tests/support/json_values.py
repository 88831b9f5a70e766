"""Typed access to JSON the services answer with, so tests index it without casts."""

from __future__ import annotations

import json
from typing import Any


def json_object(text: str | bytes) -> dict[str, Any]:
    """text parsed as JSON, which must be an object."""
    value = json.loads(text)
    assert isinstance(value, dict), f"expected a JSON object, got {value!r}"
    return value
