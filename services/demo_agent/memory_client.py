"""Session history in the memory service: read before each turn, appended after the run."""

from __future__ import annotations

from typing import Any

import httpx

from services.demo_agent.messages import Message
from services.kit.outbound import DownstreamFailure, request_json

HISTORY_LIMIT = 20  # the newest messages are enough context for a demo turn


class MemoryClient:
    def __init__(self, client: httpx.AsyncClient, base_url: str, timeout: float) -> None:
        self._client = client
        self._base_url = base_url
        self._timeout = timeout

    async def fetch_history(self, session_id: str, request_id: str) -> list[Message]:
        """The session's newest messages, oldest first; raises DownstreamFailure."""
        _, payload = await request_json(
            self._client,
            "GET",
            f"{self._base_url}/memory/latest",
            request_id,
            self._timeout,
            params={"session_id": session_id, "limit": str(HISTORY_LIMIT)},
        )
        messages = payload.get("messages") if isinstance(payload, dict) else None
        if not isinstance(messages, list):
            raise DownstreamFailure("memory answered without a messages list")
        return [
            Message(str(m.get("role", "")), str(m.get("content", "")))
            for m in messages
            if isinstance(m, dict)
        ]

    async def store_history(
        self,
        session_id: str,
        history: list[Message],
        prompt: str,
        llm_response: dict[str, Any] | None,
        request_id: str,
    ) -> Any:
        """Append this run's messages to the session; raises DownstreamFailure."""
        body = {
            "session_id": session_id,
            "history": [m.as_dict() for m in history],
            "prompt": prompt,
            "llm_response": llm_response,
        }
        _, payload = await request_json(
            self._client,
            "POST",
            f"{self._base_url}/memory/store",
            request_id,
            self._timeout,
            body,
        )
        return payload
