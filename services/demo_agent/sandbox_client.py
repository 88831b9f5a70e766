"""Tool execution through the sandbox's HTTP API."""

from __future__ import annotations

from typing import Any

import httpx

from services.kit.outbound import request_json
from services.kit.tool_catalogue import ToolCall


class SandboxClient:
    def __init__(self, client: httpx.AsyncClient, base_url: str, timeout: float) -> None:
        self._client = client
        self._base_url = base_url
        self._timeout = timeout

    async def execute_tool(self, call: ToolCall, request_id: str) -> Any:
        """The sandbox's answer (`{"status","tool_name","result"}`); raises DownstreamFailure."""
        _, payload = await request_json(
            self._client,
            "POST",
            f"{self._base_url}/api/v1/execute_tool",
            request_id,
            self._timeout,
            {"tool_name": call.name, "args": call.args},
        )
        return payload
