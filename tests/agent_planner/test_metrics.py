"""Prometheus metrics: the planner's own counters and histogram plus the kit's HTTP ones."""

from __future__ import annotations

import json
import re

from tests.agent_planner.conftest import LonePlanner


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else "") + r" (\S+)"
    found = re.search(r"^" + pattern + r"$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_error_runs_move_the_counters(lone_planner: LonePlanner) -> None:
    before = lone_planner.get("/metrics").text
    body = json.dumps({"prompt": "count me", "session_id": "s-metrics"})
    for _ in range(2):
        assert lone_planner.post("/plan", body).status_code == 500
    lone_planner.post("/plan", "not json")
    after = lone_planner.get("/metrics").text

    errors = 'outcome="error"'
    assert metric(after, "agent_plan_total", errors) == (
        metric(before, "agent_plan_total", errors) + 2
    )
    assert metric(after, "agent_loop_duration_seconds_count") == (
        metric(before, "agent_loop_duration_seconds_count") + 2
    )
    assert 'agent_plan_total{outcome="success"}' in after
    labels = 'method="POST",path="/plan",status="400"'
    assert (
        metric(after, "http_requests_total", labels)
        >= metric(before, "http_requests_total", labels) + 1
    )
