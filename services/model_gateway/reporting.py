"""What a plan call reports about itself: trailing metadata, one log line (`plan_request`,
written once the call is over, so a call costs one line) and metrics: provider and model
that answered, upstream time, gateway overhead, attempts, tokens, cost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.contracts import modelgateway_pb2 as pb
from services.kit.grpc_calls import describe_call
from services.kit.metrics import child
from services.model_gateway.chain import ChainReport
from services.model_gateway.metrics import (
    COST,
    FALLBACKS,
    OVERHEAD,
    PLAN_CALLS,
    PLAN_LATENCY,
    TOKENS,
    UPSTREAM_LATENCY,
)
from services.model_gateway.settings import TokenPrice


@dataclass(frozen=True)
class CallFigures:
    total_ms: float
    upstream_ms: float
    overhead_ms: float


def figures(report: ChainReport, total_seconds: float) -> CallFigures:
    overhead = max(0.0, total_seconds - report.upstream_seconds - report.waited_seconds)
    return CallFigures(total_seconds * 1000, report.upstream_seconds * 1000, overhead * 1000)


def trailing_metadata(report: ChainReport, call: CallFigures) -> tuple[tuple[str, str], ...]:
    pairs = [
        ("x-pagi-provider", report.provider),
        ("x-pagi-model", report.model),
        ("x-pagi-upstream-ms", f"{call.upstream_ms:.1f}"),
        ("x-pagi-overhead-ms", f"{call.overhead_ms:.2f}"),
        ("x-pagi-attempts", str(report.attempts)),
        ("x-pagi-fallbacks", str(report.fallbacks)),
    ]
    if report.usage.prompt_tokens or report.usage.completion_tokens:
        pairs.append(("x-pagi-prompt-tokens", str(report.usage.prompt_tokens)))
        pairs.append(("x-pagi-completion-tokens", str(report.usage.completion_tokens)))
    return tuple((key, value) for key, value in pairs if value)


class Reporter:
    def __init__(self, prices: Mapping[str, TokenPrice]) -> None:
        self._prices = dict(prices)

    def record(
        self, request: pb.PlanRequest, report: ChainReport, outcome: str, call: CallFigures
    ) -> None:
        provider = report.provider or "none"
        child(PLAN_CALLS, provider, outcome).inc()
        child(PLAN_LATENCY, provider).observe(call.total_ms / 1000)
        if report.upstream_seconds:  # a real provider was called (not the mock alone)
            child(UPSTREAM_LATENCY, provider).observe(call.upstream_ms / 1000)
            OVERHEAD.observe(call.overhead_ms / 1000)
        if report.fallbacks:
            child(FALLBACKS, provider).inc()
        cost = self._count_tokens(report) if outcome == "success" else None
        # The call's one log line: the kit adds method, status code and latency to it.
        describe_call("plan_request", **_log_fields(request, report, outcome, call, cost))

    def _count_tokens(self, report: ChainReport) -> float | None:
        usage = report.usage
        if usage.prompt_tokens or usage.completion_tokens:
            child(TOKENS, report.provider, report.model, "prompt").inc(usage.prompt_tokens)
            child(TOKENS, report.provider, report.model, "completion").inc(usage.completion_tokens)
        price = self._prices.get(report.model)
        if price is None:
            return None
        cost = usage.prompt_tokens * price.prompt + usage.completion_tokens * price.completion
        cost /= 1000
        child(COST, report.provider, report.model).inc(cost)
        return cost


def _log_fields(
    request: pb.PlanRequest,
    report: ChainReport,
    outcome: str,
    call: CallFigures,
    cost: float | None,
) -> dict[str, Any]:
    """The plan_request line's fields; zeros and blanks are left out, so the mock's line
    stays short (prompt size, resources and outcome are always there)."""
    resources = request.resources
    fields: dict[str, Any] = {
        "prompt_chars": len(request.prompt),
        "resource_count": len(resources),
        "resource_types": sorted({r.type for r in resources}) if resources else [],
    }
    optional = (
        ("provider", report.provider),
        ("model", report.model),
        ("outcome", outcome),
        ("attempts", report.attempts),
        ("fallbacks", report.fallbacks),
        ("upstream_ms", round(call.upstream_ms, 1)),
        ("overhead_ms", round(call.overhead_ms, 2)),
        ("prompt_tokens", report.usage.prompt_tokens),
        ("completion_tokens", report.usage.completion_tokens),
        ("cost", cost),
    )
    for key, value in optional:
        if value or key == "outcome":
            fields[key] = value
    return fields
