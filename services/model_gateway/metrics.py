"""The gateway's own Prometheus metrics (the kit adds request counts and latencies)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from services.kit.metrics import LATENCY_BUCKETS

OVERHEAD_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)

PLAN_CALLS = Counter(
    "model_gateway_plan_total",
    "GetPlan and StreamPlan calls by answering provider and outcome (success or gRPC code)",
    ["provider", "outcome"],
)
PLAN_LATENCY = Histogram(
    "model_gateway_plan_duration_seconds",
    "GetPlan and StreamPlan latency by answering provider",
    ["provider"],
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_LATENCY = Histogram(
    "model_gateway_upstream_duration_seconds",
    "Time spent waiting for providers per call (every attempt), by answering provider",
    ["provider"],
    buckets=LATENCY_BUCKETS,
)
OVERHEAD = Histogram(
    "model_gateway_overhead_seconds",
    "Per call: total time minus provider time and backoff waits (RAG preamble included)",
    buckets=OVERHEAD_BUCKETS,
)
ATTEMPTS = Counter(
    "model_gateway_provider_attempts_total",
    "Upstream attempts by provider and outcome (ok, retryable, rejected, timeout)",
    ["provider", "outcome"],
)
FALLBACKS = Counter(
    "model_gateway_fallbacks_total",
    "Calls answered (or failed) after moving past the primary provider",
    ["provider"],
)
PROVIDER_COOLDOWNS = Counter(
    "model_gateway_provider_cooldowns_total",
    "Times a provider was put in cooldown after repeated failures or a long Retry-After",
    ["provider"],
)
TOKENS = Counter(
    "model_gateway_tokens_total",
    "Tokens reported by providers, by provider, model and kind (prompt or completion)",
    ["provider", "model", "kind"],
)
COST = Counter(
    "model_gateway_cost_total",
    "Cost of the tokens at LLM_PRICES_PER_1K, by provider and model",
    ["provider", "model"],
)
RAG_LOOKUPS = Counter(
    "model_gateway_rag_lookups_total",
    "Knowledge-base lookups for the prompt preamble by outcome (matches, empty, unavailable)",
    ["outcome"],
)
