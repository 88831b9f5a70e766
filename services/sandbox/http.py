"""HTTP doors to the same dispatcher: /execute-tool and the legacy /api/v1/execute_tool."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.kit.json_limits import loads_bounded
from services.sandbox.dispatch import ToolDispatcher
from services.sandbox.errors import InvalidToolRequest, SandboxBusy
from services.sandbox.outcome import ExecutionRequest, ToolOutcome


class ExecuteToolBody(BaseModel):
    tool_name: str
    args: dict[str, Any] = Field(default_factory=dict)
    execution_environment: str = ""
    timeout_seconds: int = 0
    memory_limit_mb: int = 0
    cpu_limit_mhz: int = 0


def parsed_stdout(stdout: str) -> Any:
    """The tool's stdout as JSON when it is JSON, else wrapped as {"stdout": raw}."""
    try:
        return loads_bounded(stdout)
    except ValueError:
        return {"stdout": stdout}


def envelope(tool_name: str, outcome: ToolOutcome) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "tool_name": tool_name,
        "result": {"stdout": parsed_stdout(outcome.stdout), "stderr": outcome.stderr},
    }


def add_tool_routes(app: FastAPI, dispatcher: ToolDispatcher) -> None:
    async def execute_tool(body: ExecuteToolBody) -> JSONResponse:
        call = ExecutionRequest(**body.model_dump())
        try:
            outcome = await dispatcher.execute(call)
        except InvalidToolRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except SandboxBusy as exc:
            return JSONResponse({"error": str(exc)}, status_code=429)
        return JSONResponse(envelope(body.tool_name, outcome))

    app.post("/execute-tool")(execute_tool)
    app.post("/api/v1/execute_tool")(execute_tool)
