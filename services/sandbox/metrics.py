"""The sandbox's own metrics (the kit adds the HTTP ones)."""

from __future__ import annotations

from prometheus_client import Counter

EGRESS_DECISIONS = Counter(
    "sandbox_egress_decisions_total", "Egress proxy decisions by outcome", ["decision", "reason"]
)
