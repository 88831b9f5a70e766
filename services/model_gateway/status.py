"""The gateway's error boundary: each domain error becomes one gRPC status, with every API
key redacted from its text and, for provider trouble, `x-pagi-error-source: provider` in the
trailing metadata so callers do not count it against the gateway process itself."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from services.kit.error_source import ERROR_SOURCE_METADATA, PROVIDER_SOURCE
from services.model_gateway.errors import InvalidPlanRequest, UpstreamError, UpstreamRejected
from services.model_gateway.redaction import Redactor

PERMISSION_STATUSES = (401, 403)
PlanError = InvalidPlanRequest | TimeoutError | UpstreamError


@dataclass(frozen=True)
class PlanFailure:
    code: grpc.StatusCode
    message: str  # redacted
    from_provider: bool

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return ((ERROR_SOURCE_METADATA, PROVIDER_SOURCE),) if self.from_provider else ()


def plan_failure(exc: PlanError, provider: str, budget: float, redact: Redactor) -> PlanFailure:
    """The status for a GetPlan / StreamPlan failure."""
    if isinstance(exc, InvalidPlanRequest):
        return PlanFailure(grpc.StatusCode.INVALID_ARGUMENT, redact(str(exc)), False)
    if isinstance(exc, TimeoutError):
        message = f"{provider} gave no plan within {budget:g}s"
        return PlanFailure(grpc.StatusCode.DEADLINE_EXCEEDED, message, True)
    if isinstance(exc, UpstreamRejected):
        code = (
            grpc.StatusCode.PERMISSION_DENIED
            if exc.status in PERMISSION_STATUSES
            else grpc.StatusCode.INVALID_ARGUMENT
        )
        return PlanFailure(code, redact(str(exc)), True)
    return PlanFailure(grpc.StatusCode.UNAVAILABLE, redact(str(exc)), True)
