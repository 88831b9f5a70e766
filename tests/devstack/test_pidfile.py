"""`--stop` from another terminal stops in the order the run recorded (callers first)."""

from __future__ import annotations

from scripts.devstack.pidfile import recorded_tiers


def test_the_recorded_order_is_kept_for_what_still_runs() -> None:
    record = {"stop_order": [["planner", "notifier"], ["redis", "sandbox", "gateway"], ["memory"]]}
    alive = {"memory": 11, "gateway": 12, "planner": 14}
    assert recorded_tiers(record, alive) == [
        [("planner", 14)],
        [("gateway", 12)],
        [("memory", 11)],
    ]


def test_a_record_without_an_order_stops_the_last_started_first() -> None:
    alive = {"memory": 11, "sandbox": 12, "planner": 13}
    assert recorded_tiers({}, alive) == [[("planner", 13), ("sandbox", 12), ("memory", 11)]]
