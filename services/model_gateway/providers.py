"""The planners behind GetPlan: the deterministic mock and OpenAI-compatible models."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from services.contracts import modelgateway_pb2 as pb
from services.model_gateway.framing import focus_text, objective
from services.model_gateway.mock import MODEL_NAME as MOCK_MODEL_NAME
from services.model_gateway.mock import mock_plan
from services.model_gateway.normalise import normalise_reply
from services.model_gateway.openai_compat import ChatCompletionsClient
from services.model_gateway.prompt import chat_messages, user_message
from services.model_gateway.rag import MemoryRag


class Planner(Protocol):
    name: str
    model: str

    async def plan(self, prompt: str, resources: Sequence[pb.Resource], deadline: float) -> str:
        """Strict plan JSON text for the planner input; `deadline` is in event-loop time."""
        ...

    async def ready(self) -> bool: ...


class MockPlanner:
    name = "mock"
    model = MOCK_MODEL_NAME

    async def plan(self, prompt: str, resources: Sequence[pb.Resource], deadline: float) -> str:
        return mock_plan(prompt)

    async def ready(self) -> bool:
        return True


class ChatPlanner:
    """A real model: best-effort RAG preamble, one chat completion, normalised reply."""

    def __init__(self, client: ChatCompletionsClient, rag: MemoryRag, rag_timeout: float) -> None:
        self.name = client.config.name
        self.model = client.config.model
        self._client = client
        self._rag = rag
        self._rag_timeout = rag_timeout

    async def plan(self, prompt: str, resources: Sequence[pb.Resource], deadline: float) -> str:
        remaining = deadline - asyncio.get_running_loop().time()
        query = objective(focus_text(prompt)) or prompt.strip()
        matches = await self._rag.preamble_matches(query, min(self._rag_timeout, remaining))
        messages = chat_messages(user_message(prompt, matches, resources))
        reply = await self._client.complete(messages, deadline)
        return normalise_reply(reply, self.name, prompt)

    async def ready(self) -> bool:
        return self._client.usable and await self._rag.serving()
