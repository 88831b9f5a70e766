"""The gateway's domain errors; status.py maps them to gRPC status codes in one place."""

from __future__ import annotations


class InvalidPlanRequest(Exception):
    """The caller's PlanRequest is unusable (blank prompt, incomplete resource)."""


class UpstreamError(Exception):
    """The model provider did not give a usable answer; the message says why."""


class UpstreamUnavailable(UpstreamError):
    """A failure worth another try, here or at the next provider: connection failure, attempt
    timeout, 408/429/5xx, a malformed or cut reply. `retry_after` is the provider's own
    Retry-After, in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamRejected(UpstreamError):
    """The provider refused the request (400, 401, 403, 404, ...): retrying cannot help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ChainExhausted(UpstreamUnavailable):
    """Every provider failed or is cooling down; the message lists what happened to each."""


class ChainDeadline(TimeoutError):
    """REQUEST_TIMEOUT_SECONDS (or the caller's deadline) passed before any provider answered."""
