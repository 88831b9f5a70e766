"""The gateway's own Prometheus metrics (the kit adds request counts and latencies)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from services.kit.metrics import LATENCY_BUCKETS

PLAN_CALLS = Counter(
    "model_gateway_plan_total",
    "GetPlan calls by provider and outcome (success or the gRPC status code)",
    ["provider", "outcome"],
)
PLAN_LATENCY = Histogram(
    "model_gateway_plan_duration_seconds",
    "GetPlan latency by provider",
    ["provider"],
    buckets=LATENCY_BUCKETS,
)
RAG_LOOKUPS = Counter(
    "model_gateway_rag_lookups_total",
    "Knowledge-base lookups for the prompt preamble by outcome (matches, empty, unavailable)",
    ["outcome"],
)
