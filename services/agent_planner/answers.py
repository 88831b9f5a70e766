"""The planner's JSON error answers, shared by its routes: `{"error": message, ...}` with
the status code."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from services.agent_planner.validation import InvalidRequestError

RETRY_AFTER_SECONDS = "1"


def error(code: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=code)


def bad_request(exc: InvalidRequestError) -> JSONResponse:
    """400 with the request's error, and the detail naming the problem when there is one."""
    return error(400, str(exc), **({} if exc.detail is None else {"detail": exc.detail}))


def not_found(run_id: str) -> JSONResponse:
    return error(404, f"run not found: {run_id}")


def queue_full() -> JSONResponse:
    response = error(429, "too many runs queued; retry later")
    response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response
