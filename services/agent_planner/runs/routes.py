"""HTTP routes of runs: POST /runs, GET /runs, GET /runs/{id}, GET /runs/{id}/events (SSE)
and POST /runs/{id}/cancel; run errors become JSON answers here and nowhere else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.sse import EventSourceResponse
from starlette.types import Receive, Scope, Send

from services.agent_planner.answers import bad_request, error, not_found, queue_full
from services.agent_planner.runs.pool import QueueFullError
from services.agent_planner.runs.records import RunStatus
from services.agent_planner.runs.service import RunAlreadyFinished, RunNotFound, RunService
from services.agent_planner.runs.store import RunNotFoundError, RunQuery
from services.agent_planner.runs.stream import FinalChunk
from services.agent_planner.validation import InvalidRequestError, parse_plan_request

MAX_PAGE = 100
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
STATUSES = ", ".join(s.value for s in RunStatus)


class RunEventResponse(EventSourceResponse):
    """An SSE response whose FinalChunk also ends the body: one ASGI message and one socket
    write fewer per stream than an empty closing message after it. A client that leaves
    stops the stream: one asyncio task waits for its disconnect and cancels the response
    (Starlette's task group for the same costs a task group, two tasks and a cancel scope
    per stream)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = asyncio.current_task()
        assert streaming is not None
        gone = False

        async def cancel_when_gone() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            streaming.cancel()

        watcher = asyncio.create_task(cancel_when_gone(), name="sse-disconnect")
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            if not gone:
                raise
            streaming.uncancel()  # the client left: the stream simply ends
        finally:
            watcher.cancel()

    async def stream_response(self, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        await send({**start, "headers": self.raw_headers})
        ended = False
        async for chunk in self.body_iterator:
            ended = isinstance(chunk, FinalChunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": not ended})
        if not ended:  # the stream stopped without its terminal event (e.g. shutdown)
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def event_stream(body: AsyncIterator[bytes], **headers: str) -> EventSourceResponse:
    return RunEventResponse(body, headers={**STREAM_HEADERS, **headers})


def stream_position(after: int | None, last_event_id: str | None) -> int:
    """Where a reader resumes: ?after= wins, else Last-Event-ID, else from the start."""
    if after is not None:
        return after
    if last_event_id is None or not last_event_id.strip():
        return 0
    value = last_event_id.strip()
    if not value.isdigit():
        raise InvalidRequestError(f"Last-Event-ID must be an event number, got {value!r}")
    return int(value)


async def stream_plan(runs: RunService, request: Request) -> Response:
    """POST /plan with Accept: text/event-stream: start a run and stream it to its end."""
    try:
        body = parse_plan_request(await request.body())
        record, stream = await runs.start_streamed(body)
    except InvalidRequestError as exc:
        return bad_request(exc)
    except QueueFullError:
        return queue_full()
    return event_stream(stream, **{"X-Run-ID": record.run_id, "Location": f"/runs/{record.run_id}"})


def add_run_routes(app: FastAPI, runs: RunService) -> None:
    @app.post("/runs", summary="Start an agent run in the background", status_code=202)
    async def create_run(request: Request) -> JSONResponse:
        try:
            record = await runs.start(parse_plan_request(await request.body()))
        except InvalidRequestError as exc:
            return bad_request(exc)
        except QueueFullError:
            return queue_full()
        fields = record.as_json()
        body = {key: fields[key] for key in ("run_id", "status", "trace_id", "session_id")}
        return JSONResponse(body, status_code=202, headers={"Location": f"/runs/{record.run_id}"})

    @app.get("/runs", summary="Runs, newest first")
    async def list_runs(
        session_id: str | None = None,
        status: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
        before: str | None = None,
    ) -> JSONResponse:
        if status is not None and status not in RunStatus.__members__.values():
            return error(400, f"status must be one of {STATUSES}, got {status!r}")
        query = RunQuery(session_id or None, RunStatus(status) if status else None, limit, before)
        try:
            records = await runs.list(query)
        except RunNotFoundError:
            return error(400, f"before names no run: {before}")
        next_before = records[-1].run_id if len(records) == limit else None
        return JSONResponse({"runs": [r.as_json() for r in records], "next_before": next_before})

    @app.get("/runs/{run_id}", summary="One run's status and result")
    async def get_run(run_id: str) -> JSONResponse:
        try:
            return JSONResponse(await runs.describe(run_id))
        except RunNotFound:
            return not_found(run_id)

    @app.get("/runs/{run_id}/events", summary="The run's events as Server-Sent Events")
    async def run_events(
        run_id: str,
        after: Annotated[int | None, Query(ge=0)] = None,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> Response:
        try:
            stream = await runs.events(run_id, stream_position(after, last_event_id))
        except InvalidRequestError as exc:
            return bad_request(exc)
        except RunNotFound:
            return not_found(run_id)
        return event_stream(stream)

    @app.post("/runs/{run_id}/cancel", summary="Cancel a run (idempotent)")
    async def cancel_run(run_id: str) -> JSONResponse:
        try:
            answer = await runs.cancel(run_id)
        except RunNotFound:
            return not_found(run_id)
        except RunAlreadyFinished as exc:
            return error(
                409,
                f"run already finished: {exc.record.status.value}",
                status=exc.record.status.value,
                run_id=run_id,
            )
        code = 202 if answer.accepted_elsewhere else 200
        return JSONResponse(answer.record.as_json(), status_code=code)
