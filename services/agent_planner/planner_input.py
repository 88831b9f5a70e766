"""The text the planner sends to the model, the follow-up prompt after a tool step, and
the check that tells a tool call from a final answer."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from services.kit.json_limits import loads_bounded
from services.kit.planner_text import (
    RagMatchLike,
    append_tool_result,
    encode_input,
    rag_entries,
)
from services.kit.tool_catalogue import ToolCall, tool_call_parts


def build_planner_input(
    history: Iterable[Mapping[str, Any]], matches: Iterable[RagMatchLike], prompt: str
) -> str:
    # The planner's input ends with a newline, as the original planner's did.
    return encode_input(_history_lines(history), prompt, rag_entries(matches)) + "\n"


def _history_lines(history: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    for message in history:
        role, content = _as_text(message.get("role")), _as_text(message.get("content"))
        if role or content:
            yield f"{role}: {content}"


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
    return append_tool_result(prompt, tool_output, plan)


def parse_tool_call(plan: str) -> ToolCall | None:
    """A tool call is a JSON object whose `tool` is an object with a non-blank string `name`
    and, optionally, an object `args`. Anything else is a final answer (None)."""
    try:
        document = loads_bounded(plan)
    except ValueError:
        return None
    parts = tool_call_parts(document.get("tool")) if isinstance(document, dict) else None
    return ToolCall(*parts) if parts else None
