"""HTTP routes: /plan and /run (the agent loop), /audit, /ready and /live; errors are
translated to the SPEC's JSON bodies here and nowhere else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from services.agent_planner.answers import bad_request, error, queue_full
from services.agent_planner.audit import AuditLog
from services.agent_planner.errors import AgentLoopError
from services.agent_planner.loop import AgentLoop
from services.agent_planner.runs.approval_routes import add_approval_routes, waiting_answer
from services.agent_planner.runs.pool import QueueFullError
from services.agent_planner.runs.records import RunStatus
from services.agent_planner.runs.routes import add_run_routes, stream_plan
from services.agent_planner.runs.service import RunService
from services.agent_planner.validation import (
    InvalidRequestError,
    PlanRequest,
    parse_plan_request,
)
from services.kit.direct_routes import add_direct_route
from services.kit.logs import get_logger

log = get_logger("agent_planner.http")
MAX_AUDIT_ROWS = 10_000
ReadyCheck = Callable[[], Awaitable[bool]]


def add_routes(
    app: FastAPI, loop: AgentLoop, audit: AuditLog, ready: ReadyCheck, runs: RunService
) -> None:
    async def plan(request: Request) -> Response:
        if "text/event-stream" in request.headers.get("accept", ""):
            return await stream_plan(runs, request)
        return await run_plan(loop, runs, request)

    # Direct routes (services/kit/direct_routes.py): the API-key guard runs, FastAPI's
    # other layers are skipped.
    add_direct_route(app, "/plan", plan, summary="Run the agent loop")
    add_direct_route(app, "/run", plan, summary="Same as /plan")
    add_run_routes(app, runs)
    add_approval_routes(app, runs)

    @app.get("/audit", summary="Audit rows of one run (trace_id) or session (session_id)")
    async def audit_rows(
        trace_id: str | None = None,
        session_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_ROWS)] = 1000,
    ) -> JSONResponse:
        if not trace_id and not session_id:
            return error(400, "trace_id or session_id query parameter is required")
        rows = await audit.rows(trace_id or None, session_id or None, limit)
        return JSONResponse({"count": len(rows), "rows": rows})

    @app.get("/live", summary="Liveness: the process answers")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: the audit log is writable")
    async def ready_route() -> JSONResponse:
        ok = await ready()
        return JSONResponse(
            {"status": "ok" if ok else "unavailable"}, status_code=200 if ok else 503
        )


async def run_plan(loop: AgentLoop, runs: RunService, request: Request) -> JSONResponse:
    try:
        body = parse_plan_request(await request.body())
    except InvalidRequestError as exc:
        return bad_request(exc)
    if runs.approval_for(body):
        return await run_plan_with_approval(runs, body)
    try:
        result = await loop.run(body.prompt, body.session_id, body.resources)
    except AgentLoopError as exc:
        log.error("agent_loop_failed", error=str(exc))
        return error(500, f"Agent execution failed: {exc}")
    except Exception as exc:  # an unexpected bug still answers in the documented shape
        log.exception("agent_loop_crashed")
        return error(500, f"Agent execution failed: {exc or type(exc).__name__}")
    return JSONResponse({"result": result})


async def run_plan_with_approval(runs: RunService, body: PlanRequest) -> JSONResponse:
    """A tool call may have to wait for a reviewer: execute as a run, and answer 202 with
    its link instead of holding the request when it stops to wait."""
    try:
        record = await runs.settled((await runs.start(body)).run_id)
    except QueueFullError:
        return queue_full()
    if record.status is RunStatus.WAITING_APPROVAL:
        return waiting_answer(record, await runs.waiting_call(record.run_id))
    if record.result is None:  # failed, or cancelled meanwhile
        return error(500, f"Agent execution failed: {record.error or record.status}")
    return JSONResponse({"result": record.result})
