"""Prometheus metrics shared by every service (request counts and latencies)."""

from __future__ import annotations

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
