"""The planners behind GetPlan and StreamPlan: the deterministic mock alone, or a chain of
providers (OpenAI-compatible models, the mock as an optional last resort)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from services.contracts import modelgateway_pb2 as pb
from services.kit.planner_text import focus_text, objective
from services.model_gateway.chain import (
    ChainReport,
    DeltaSink,
    ModelRequest,
    ProviderChain,
    StreamSink,
)
from services.model_gateway.chain_config import MOCK_CONFIG, ProviderConfig
from services.model_gateway.completion import Completion, reply_text
from services.model_gateway.mock import mock_plan
from services.model_gateway.normalise import normalise_reply
from services.model_gateway.openai_compat import ChatCompletionsClient
from services.model_gateway.prompt import chat_messages, user_message
from services.model_gateway.rag import MemoryRag
from services.model_gateway.redaction import Redactor


class Planner(Protocol):
    name: str  # the primary provider
    model: str
    waits: bool  # whether plan() waits on I/O (and so needs the call's timer)

    async def plan(
        self,
        prompt: str,
        resources: Sequence[pb.Resource],
        deadline: float,
        report: ChainReport,
        sink: StreamSink | None = None,
    ) -> str:
        """Strict plan JSON text for the planner input; `deadline` is in event-loop time."""
        ...

    async def ready(self) -> bool: ...

    def chain_state(self) -> list[dict[str, Any]]:
        """Each provider of the chain, in order, with the seconds left of its cooldown."""
        ...


class MockPlanner:
    """LLM_PROVIDER=mock without fallbacks: no chain, no network."""

    name = MOCK_CONFIG.name
    model = MOCK_CONFIG.model
    waits = False  # answers at once: no timer to arm per call

    async def plan(
        self,
        prompt: str,
        resources: Sequence[pb.Resource],
        deadline: float,
        report: ChainReport,
        sink: StreamSink | None = None,
    ) -> str:
        report.provider, report.model, report.attempts = self.name, self.model, 1
        plan = mock_plan(prompt)
        if sink is not None:
            sink.delta(plan)
        return plan

    async def ready(self) -> bool:
        return True

    def chain_state(self) -> list[dict[str, Any]]:
        return [{"provider": self.name, "model": self.model, "cooling_down_s": 0.0}]


class MockProvider:
    """The mock as the chain's last resort."""

    config = MOCK_CONFIG

    async def answer(
        self, request: ModelRequest, timeout: float, on_delta: DeltaSink | None
    ) -> Completion:
        content = mock_plan(request.prompt)
        if on_delta is not None:
            on_delta(content)
        return Completion(content)


class OpenAICompatProvider:
    def __init__(self, client: ChatCompletionsClient) -> None:
        self.config: ProviderConfig = client.config
        self.client = client

    async def answer(
        self, request: ModelRequest, timeout: float, on_delta: DeltaSink | None
    ) -> Completion:
        # The chain's timer bounds the call (timeout is for providers without one).
        if on_delta is None:
            return await self.client.complete(request.messages)
        return await self.client.stream(request.messages, on_delta)


class ChainPlanner:
    """Best-effort RAG preamble, the provider chain, the answer normalised and redacted."""

    def __init__(
        self,
        chain: ProviderChain,
        rag: MemoryRag | None,
        rag_timeout: float,
        redact: Redactor,
    ) -> None:
        primary = chain.providers[0].config
        self.name, self.model = primary.name, primary.model
        self.waits = True
        self._chain = chain
        self._rag = rag
        self._rag_timeout = rag_timeout
        self._redact = redact

    async def plan(
        self,
        prompt: str,
        resources: Sequence[pb.Resource],
        deadline: float,
        report: ChainReport,
        sink: StreamSink | None = None,
    ) -> str:
        request = ModelRequest(
            prompt, chat_messages(await self._user_text(prompt, resources, deadline))
        )
        completion = await self._chain.run(request, deadline, report, sink)
        plan = normalise_reply(reply_text(completion, report.provider), report.provider, prompt)
        return self._redact.known_secrets(plan)

    async def _user_text(
        self, prompt: str, resources: Sequence[pb.Resource], deadline: float
    ) -> str:
        matches: list[pb.RAGMatch] = []
        if self._rag is not None:
            remaining = deadline - asyncio.get_running_loop().time()
            query = objective(focus_text(prompt)) or prompt.strip()
            matches = await self._rag.preamble_matches(query, min(self._rag_timeout, remaining))
        return user_message(prompt, matches, resources)

    def chain_state(self) -> list[dict[str, Any]]:
        return self._chain.state()

    async def ready(self) -> bool:
        clients = [p.client for p in self._chain.providers if isinstance(p, OpenAICompatProvider)]
        usable = all(client.usable for client in clients)
        return usable and (self._rag is None or await self._rag.serving())
