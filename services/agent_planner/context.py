"""What the loop gathers from memory before each GetPlan: the session's recent history and
the knowledge-base matches for the prompt, clipped to the loop's limits. Both come in one
GetPlanContext call (one round trip, and memory embeds the query while it reads the
history); a memory that does not serve it gets one call each. Memory being down costs
context, not the run: a failed fetch is logged and yields nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from services.agent_planner.breaker import BreakerOpenError
from services.agent_planner.errors import DependencyError, PlanContextUnsupported
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
        self.together = True  # until memory says it does not serve GetPlanContext

    async def gather(
        self, session_id: str, prompt: str, knowledge: KnowledgeChoice = NO_CHOICE
    ) -> PlanContext:
        """History and matches: in one call while memory serves GetPlanContext, else with
        one call each, at the same time."""
        if self.together:
            try:
                return await self._gather_together(session_id, prompt, knowledge)
            except PlanContextUnsupported as exc:
                self.together = False
                log.warning(
                    "plan_context_unsupported",
                    reason=str(exc),
                    instead="GET /memory/latest and GetRAGContext",
                )
        history, matches = await asyncio.gather(
            self.session_history(session_id), self.rag_context(prompt, knowledge)
        )
        return PlanContext(history, matches)

    async def _gather_together(
        self, session_id: str, prompt: str, knowledge: KnowledgeChoice
    ) -> PlanContext:
        with tracer.start_as_current_span("MemoryAccess.PlanContext") as span:
            try:
                reply = await self.memory.fetch_plan_context(
                    session_id, self.limits.history_messages, self._rag_request(prompt, knowledge)
                )
            except DependencyError as exc:
                log.warning("rag_context_unavailable", error=str(exc))
                if isinstance(exc.__cause__, BreakerOpenError):
                    # RAG is off for now, not memory: the history still comes, over HTTP.
                    return PlanContext(await self.session_history(session_id), [])
                log.warning("session_history_unavailable", error=str(exc))
                return PlanContext([], [])
            if reply.history_error:
                # Read over HTTP as before (too large for a reply, or logged there if the
                # database is down).
                log.info("plan_context_history_apart", reason=reply.history_error)
                history = await self.session_history(session_id)
            else:
                messages = ({"role": m.role, "content": m.content} for m in reply.history)
                history = clip_history(messages, self.limits.history_message_chars)
            matches: list[pb.RAGMatch] = []
            if reply.rag_error:
                error = f"GetPlanContext: RAG: {reply.rag_error}"
                log.warning("rag_context_unavailable", error=error)
            else:
                matches = self._clipped(list(reply.matches))
            span.set_attribute("history_messages", len(history))
            span.set_attribute("match_count", len(matches))
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
                matches = await self.memory.fetch_rag_context(self._rag_request(prompt, knowledge))
            except DependencyError as exc:
                log.warning("rag_context_unavailable", error=str(exc))
                return []
            span.set_attribute("match_count", len(matches))
            return self._clipped(matches)

    def _rag_request(self, prompt: str, knowledge: KnowledgeChoice) -> pb.RAGContextRequest:
        """The prompt, clipped, searched in the KBs of the request (or the loop's)."""
        return pb.RAGContextRequest(
            query=clip(prompt, self.limits.rag_query_chars),
            top_k=self.limits.top_k,
            knowledge_bases=list(knowledge.searched(self.limits.knowledge_bases)),
            namespace=knowledge.namespace,
        )

    def _clipped(self, matches: list[pb.RAGMatch]) -> list[pb.RAGMatch]:
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
