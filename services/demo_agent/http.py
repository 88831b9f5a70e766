"""HTTP routes of the demo agent: POST /api/v1/plan (plus the kit's /health and /metrics)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.demo_agent.agent import MAX_TURNS, AgentRun, DemoAgent, llm_response, parsed_plan
from services.demo_agent.bff_echo import BffEcho
from services.kit.http_app import create_app
from services.kit.request_ids import REQUEST_ID_HEADER, bind_request_id

SERVICE = "demo_agent"
VERSION = "0.1.0"
DEFAULT_PROMPT = "Generate a 3-step plan to solve X."
MAX_PROMPT_CHARS = 32_000


class PlanBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(default=DEFAULT_PROMPT, max_length=MAX_PROMPT_CHARS, strict=True)
    session_id: str | None = Field(default=None, min_length=1, max_length=256, strict=True)
    request_id: str | None = Field(default=None, strict=True)

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


def build_app(agent: DemoAgent, bff_echo: BffEcho) -> FastAPI:
    app = create_app(SERVICE, VERSION)

    @app.post("/api/v1/plan")
    async def plan(request: Request, body: PlanBody | None = None) -> JSONResponse:
        """Echo check with the BFF, then the plan loop; neighbours' failures are in the body."""
        body = body or PlanBody()
        request_id = bind_request_id(request.headers.get(REQUEST_ID_HEADER), body.model_dump())
        session_id = body.session_id or f"demo-{uuid.uuid4()}"
        echo = await bff_echo.ping(request_id)
        run = await agent.run(body.prompt, session_id, request_id)
        payload = plan_payload(run, echo, request_id)
        return JSONResponse(payload, headers={REQUEST_ID_HEADER: request_id})

    return app


def plan_payload(run: AgentRun, bff_echo: Any, request_id: str) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "service": SERVICE,
        "status": run.status,
        "agent": {"turns_executed": run.turns_executed, "max_turns": MAX_TURNS},
        "plan": {"prompt": run.prompt, "llm_plan": parsed_plan(run)},
        "llm_response": llm_response(run),
        "history": [m.as_dict() for m in run.history],
        "session_id": run.session_id,
        "bff_echo": bff_echo,
        "request_id": request_id,
    }
    if run.gateway_error is not None:
        payload["error"] = run.gateway_error
    if run.warnings:
        payload["warnings"] = run.warnings
    return payload
