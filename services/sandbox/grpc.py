"""ToolService servicer: ExecuteTool over gRPC, with domain errors mapped to status codes."""

from __future__ import annotations

from typing import Any

import grpc

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.json_limits import loads_bounded
from services.sandbox.dispatch import ToolDispatcher
from services.sandbox.errors import InvalidToolRequest, SandboxBusy
from services.sandbox.outcome import ExecutionRequest

SERVICE_NAME = "modelgateway.ToolService"


def parse_args_json(text: str) -> dict[str, Any]:
    """Blank means {}; anything but a JSON object is an InvalidToolRequest."""
    if not text.strip():
        return {}
    try:
        value = loads_bounded(text)
    except ValueError as exc:
        raise InvalidToolRequest(f"invalid args_json: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidToolRequest(
            f"invalid args_json: expected a JSON object, got {type(value).__name__}"
        )
    return value


def execution_request(request: pb.ToolRequest) -> ExecutionRequest:
    return ExecutionRequest(
        tool_name=request.tool_name,
        args=parse_args_json(request.args_json),
        execution_environment=request.execution_environment,
        memory_limit_mb=request.memory_limit_mb,
        timeout_seconds=request.timeout_seconds,
        cpu_limit_mhz=request.cpu_limit_mhz,
    )


class ToolServicer(pb_grpc.ToolServiceServicer):
    def __init__(self, dispatcher: ToolDispatcher) -> None:
        self.dispatcher = dispatcher

    async def ExecuteTool(
        self, request: pb.ToolRequest, context: grpc.aio.ServicerContext
    ) -> pb.ToolResponse:
        try:
            outcome = await self.dispatcher.execute(execution_request(request))
        except InvalidToolRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except SandboxBusy as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        return pb.ToolResponse(status=outcome.status, stdout=outcome.stdout, stderr=outcome.stderr)
