"""Prometheus metrics of runs: outcomes, queue depth, runs in flight, time to first event
and connected stream readers."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from services.agent_planner.runs.records import TERMINAL_EVENTS

RUNS_FINISHED = Counter("agent_runs_total", "Runs by terminal status", ["status"])
RUN_QUEUE_DEPTH = Gauge("agent_run_queue_depth", "Runs accepted and waiting for a worker")
RUNS_IN_FLIGHT = Gauge("agent_runs_in_flight", "Runs being executed by this process")
RUN_FIRST_EVENT = Histogram(
    "agent_run_first_event_seconds",
    "Time from a run's creation to its first step event (run.started)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
STREAM_READERS = Gauge("agent_run_stream_readers", "SSE readers connected to this process")
for _status in TERMINAL_EVENTS:
    RUNS_FINISHED.labels(_status.value)
