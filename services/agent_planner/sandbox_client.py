"""ExecuteTool on the sandbox, with the limits the planner asks for on every call."""

from __future__ import annotations

import json

from services.agent_planner.errors import call_dependency
from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.tool_catalogue import ToolCall

EXECUTION_ENVIRONMENT = "generic-docker"
CPU_LIMIT_MHZ = 1000
MEMORY_LIMIT_MB = 512
TOOL_TIMEOUT_SECONDS = 30


class SandboxClient:
    def __init__(self, stub: pb_grpc.ToolServiceStub, rpc_timeout_seconds: float) -> None:
        self.stub = stub
        self.rpc_timeout_seconds = rpc_timeout_seconds

    async def execute_tool(self, call: ToolCall) -> str:
        """Run the tool; its output is the JSON text {"status", "stdout", "stderr"}."""
        request = pb.ToolRequest(
            tool_name=call.name,
            args_json=json.dumps(call.args),
            execution_environment=EXECUTION_ENVIRONMENT,
            cpu_limit_mhz=CPU_LIMIT_MHZ,
            memory_limit_mb=MEMORY_LIMIT_MB,
            timeout_seconds=TOOL_TIMEOUT_SECONDS,
        )
        reply = await call_dependency(
            f"ExecuteTool({call.name})",
            lambda: self.stub.ExecuteTool(request, timeout=self.rpc_timeout_seconds),
        )
        return json.dumps({"status": reply.status, "stdout": reply.stdout, "stderr": reply.stderr})
