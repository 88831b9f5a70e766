"""The planner's own metrics and its tracer (the kit adds HTTP metrics and span export)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from services.kit.tracing import get_tracer

PLAN_TOTAL = Counter("agent_plan_total", "Agent loop runs by outcome", ["outcome"])
LOOP_DURATION = Histogram(
    "agent_loop_duration_seconds",
    "Wall-clock time of one agent loop run",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
for _outcome in ("success", "error", "cancelled"):
    PLAN_TOTAL.labels(_outcome)

tracer = get_tracer("services.agent_planner")
