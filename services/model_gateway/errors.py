"""The gateway's domain errors; grpc.py maps them to status codes in one place."""

from __future__ import annotations


class InvalidPlanRequest(Exception):
    """The caller's PlanRequest is unusable (blank prompt, incomplete resource)."""


class UpstreamError(Exception):
    """The model provider did not give a usable answer; the message says why."""


class UpstreamUnavailable(UpstreamError):
    """Connection failure, 5xx, rate limiting that outlasted the retries, or a malformed reply."""


class UpstreamRejected(UpstreamError):
    """The provider refused the request with a 4xx status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
