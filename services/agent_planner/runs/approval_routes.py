"""HTTP routes of reviewers: POST /runs/{id}/approve and POST /runs/{id}/reject, and the
answer of a synchronous POST /plan whose run stopped to wait for one."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.agent_planner.answers import error, not_found, queue_full
from services.agent_planner.runs.approvals import Decision
from services.agent_planner.runs.pool import QueueFullError
from services.agent_planner.runs.records import RunRecord
from services.agent_planner.runs.service import RunNotFound, RunService
from services.agent_planner.runs.sql_checkpoints import ApprovalConflict

MAX_NOTE_CHARS = 4000


class ApproveBody(BaseModel):
    call_id: str = Field(min_length=1, max_length=200)
    args: dict[str, Any] | None = None  # replaces the model's arguments when given
    comment: str | None = Field(default=None, max_length=MAX_NOTE_CHARS)


class RejectBody(BaseModel):
    call_id: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


def waiting_answer(record: RunRecord, pending: dict[str, Any] | None) -> JSONResponse:
    """202 for a synchronous /plan whose run waits for a reviewer, with the waiting call."""
    link = f"/runs/{record.run_id}"
    body = {"run_id": record.run_id, "status": record.status.value, "run": link}
    return JSONResponse(
        {**body, "pending_approval": pending}, status_code=202, headers={"Location": link}
    )


def add_approval_routes(app: FastAPI, runs: RunService) -> None:
    async def decide(run_id: str, decision: Decision) -> JSONResponse:
        try:
            record = await runs.decide(run_id, decision)
        except RunNotFound:
            return not_found(run_id)
        except ApprovalConflict as exc:
            current = await runs.get(run_id)
            return error(409, str(exc), run_id=run_id, status=current.status.value)
        except QueueFullError:
            return queue_full()
        return JSONResponse(record.as_json())

    @app.post("/runs/{run_id}/approve", summary="Approve the tool call a run waits on")
    async def approve(run_id: str, body: ApproveBody) -> JSONResponse:
        return await decide(run_id, Decision(body.call_id, True, body.args, body.comment))

    @app.post("/runs/{run_id}/reject", summary="Reject the tool call a run waits on")
    async def reject(run_id: str, body: RejectBody) -> JSONResponse:
        return await decide(run_id, Decision(body.call_id, False, reason=body.reason))
