"""What the loop gathers from memory before each GetPlan: the session's recent history and
the knowledge-base matches for the prompt, clipped to the loop's limits. Memory being down
costs context, not the run: a failed fetch is logged and yields nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from services.agent_planner.errors import DependencyError
from services.agent_planner.knowledge_choice import NO_CHOICE, KnowledgeChoice
from services.agent_planner.limits import LoopLimits
from services.agent_planner.memory_client import MemoryClient
from services.agent_planner.metrics import tracer
from services.agent_planner.planner_input import clip, clip_history
from services.contracts import modelgateway_pb2 as pb
from services.kit.logs import get_logger

log = get_logger("agent_loop")
EVENT_MATCH_CHARS = 300  # of a match's text, as a context.retrieved event shows it


@dataclass(frozen=True)
class PlanContext:
    history: list[dict[str, str]]
    matches: list[pb.RAGMatch]


class ContextGatherer:
    def __init__(self, memory: MemoryClient, limits: LoopLimits) -> None:
        self.memory = memory
        self.limits = limits

    async def gather(
        self, session_id: str, prompt: str, knowledge: KnowledgeChoice = NO_CHOICE
    ) -> PlanContext:
        """History and matches, fetched at the same time."""
        history, matches = await asyncio.gather(
            self.session_history(session_id), self.rag_context(prompt, knowledge)
        )
        return PlanContext(history, matches)

    async def session_history(self, session_id: str) -> list[dict[str, str]]:
        with tracer.start_as_current_span("MemoryAccess.SessionHistory"):
            try:
                history = await self.memory.fetch_session_history(
                    session_id, self.limits.history_messages
                )
            except DependencyError as exc:
                log.warning("session_history_unavailable", error=str(exc))
                return []
            return clip_history(history, self.limits.history_message_chars)

    async def rag_context(
        self, prompt: str, knowledge: KnowledgeChoice = NO_CHOICE
    ) -> list[pb.RAGMatch]:
        with tracer.start_as_current_span("MemoryAccess.RAGContext") as span:
            try:
                matches = await self.memory.fetch_rag_context(
                    clip(prompt, self.limits.rag_query_chars),
                    self.limits.top_k,
                    knowledge.searched(self.limits.knowledge_bases),
                    knowledge.namespace,
                )
            except DependencyError as exc:
                log.warning("rag_context_unavailable", error=str(exc))
                return []
            span.set_attribute("match_count", len(matches))
            for match in matches:
                match.text = clip(match.text, self.limits.rag_match_chars)
            return matches


def match_summary(match: pb.RAGMatch) -> dict[str, Any]:
    """A match as the context.retrieved event shows it: where it is from, how near, and
    the start of its text."""
    return {
        "knowledge_base": match.knowledge_base,
        "source": match.source,
        "distance": round(match.distance, 4),
        "text": clip(match.text, EVENT_MATCH_CHARS),
    }
