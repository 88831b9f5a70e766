"""The text the planner sends to the model, the follow-up prompt after a tool step, and
the check that tells a tool call from a final answer."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.kit.json_limits import loads_bounded
from services.kit.tool_catalogue import tool_call_parts


class RagMatchLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def knowledge_base(self) -> str: ...


@dataclass(frozen=True)
class ToolCall:
    name: str
    args: dict[str, Any] = field(default_factory=dict)


def build_planner_input(
    history: Iterable[Mapping[str, Any]], matches: Iterable[RagMatchLike], prompt: str
) -> str:
    return (
        f"<session_history>\n{_history_lines(history)}</session_history>\n\n"
        f"<rag_context>\n{_rag_blocks(matches)}</rag_context>\n\n"
        f"<user_prompt>\n{prompt}\n</user_prompt>\n"
    )


def _history_lines(history: Iterable[Mapping[str, Any]]) -> str:
    lines = []
    for message in history:
        role, content = _as_text(message.get("role")), _as_text(message.get("content"))
        if role or content:
            lines.append(f"{role}: {content}\n")
    return "".join(lines)


def _rag_blocks(matches: Iterable[RagMatchLike]) -> str:
    return "".join(f"**{m.knowledge_base}**\nID: {m.id}\nText: {m.text}\n---\n" for m in matches)


def clip(text: str, max_chars: int) -> str:
    """text cut to max_chars, marked so the model can tell it was cut."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f" ...[truncated {len(text) - max_chars} chars]"


def clip_history(history: Iterable[Mapping[str, Any]], max_chars: int) -> list[dict[str, str]]:
    """Role and content of each message, each content clipped to max_chars."""
    return [
        {"role": _as_text(m.get("role")), "content": clip(_as_text(m.get("content")), max_chars)}
        for m in history
    ]


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def build_followup_prompt(prompt: str, plan: str, tool_output: str) -> str:
    """The prompt for the next turn: the previous one plus the plan and what the tool said."""
    return f"{prompt}\n\n<plan>\n{plan}\n</plan>\n\n<tool_result>\n{tool_output}\n</tool_result>\n"


def parse_tool_call(plan: str) -> ToolCall | None:
    """A tool call is a JSON object whose `tool` is an object with a non-blank string `name`
    and, optionally, an object `args`. Anything else is a final answer (None)."""
    try:
        document = loads_bounded(plan)
    except ValueError:
        return None
    parts = tool_call_parts(document.get("tool")) if isinstance(document, dict) else None
    return ToolCall(*parts) if parts else None
