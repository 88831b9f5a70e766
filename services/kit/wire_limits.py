"""Limits a caller and its callee must agree on, so the caller can refuse up front what
the callee would refuse later (when the turn can no longer be saved)."""

from __future__ import annotations

MAX_SESSION_ID_CHARS = 256
