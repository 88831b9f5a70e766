"""The bounds of one agent loop run, read from the planner's settings."""

from __future__ import annotations

from dataclasses import dataclass

from services.agent_planner.settings import PlannerSettings
from services.kit.knowledge_bases import PLANNER_KNOWLEDGE_BASES


@dataclass(frozen=True)
class LoopLimits:
    max_turns: int
    top_k: int
    knowledge_bases: tuple[str, ...]
    # Bounds that keep the planner input finite as sessions and prompts grow.
    history_messages: int = 20
    history_message_chars: int = 2000
    rag_query_chars: int = 2000
    rag_match_chars: int = 4000
    tool_output_event_chars: int = 4096  # tool output shown in a tool.finished event

    @classmethod
    def from_settings(cls, settings: PlannerSettings) -> LoopLimits:
        return cls(
            max_turns=settings.AGENT_MAX_TURNS,
            top_k=settings.AGENT_RAG_TOP_K,
            knowledge_bases=PLANNER_KNOWLEDGE_BASES,
            history_messages=settings.AGENT_HISTORY_MAX_MESSAGES,
            history_message_chars=settings.AGENT_HISTORY_MESSAGE_MAX_CHARS,
            rag_query_chars=settings.AGENT_RAG_QUERY_MAX_CHARS,
            rag_match_chars=settings.AGENT_RAG_MATCH_MAX_CHARS,
            tool_output_event_chars=settings.AGENT_RUN_TOOL_OUTPUT_MAX_CHARS,
        )
