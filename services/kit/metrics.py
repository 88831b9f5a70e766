"""Prometheus metrics shared by every service (request counts and latencies)."""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests by method, route and status", ["method", "path", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by method and route",
    ["method", "path"],
    buckets=LATENCY_BUCKETS,
)
GRPC_REQUESTS = Counter(
    "grpc_server_requests_total", "gRPC calls by method and code", ["method", "code"]
)
GRPC_LATENCY = Histogram(
    "grpc_server_duration_seconds",
    "gRPC call latency by method",
    ["method"],
    buckets=LATENCY_BUCKETS,
)


def render_metrics() -> tuple[bytes, str]:
    """The Prometheus text exposition of this process's registry, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


@functools.cache
def child(metric: Any, *labels: str) -> Any:
    """metric.labels(*labels), looked up once per label set: labels() validates and locks on
    every call, and a call records several. Only for label values from a small fixed set
    (configured names, routes, status codes, outcomes): every set stays cached."""
    return metric.labels(*labels)
