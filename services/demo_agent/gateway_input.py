"""The text sent to GetPlan: session history, then the current prompt in `<user_prompt>`.

Text that came from elsewhere (history, tool output) has its angle brackets escaped, so it
can never open or close one of the framing blocks the gateway reads.
"""

from __future__ import annotations

import json
from typing import Any

from services.demo_agent.messages import Message
from services.kit.planner_text import append_tool_result, encode_input

MAX_HISTORY_CONTENT_CHARS = 2000


def build_gateway_input(history: list[Message], prompt: str) -> str:
    lines = (f"{m.role}: {_escape_text(_shorten(m.content))}" for m in history)
    return encode_input(lines, prompt)


def with_tool_result(prompt: str, tool_output: str) -> str:
    """The next turn's prompt: the previous one plus the tool's output in `<tool_result>`."""
    return append_tool_result(prompt, tool_output)


def tool_output_text(payload: Any) -> str:
    """JSON text of a tool outcome; `<` and `>` become JSON escapes, so it stays valid JSON."""
    text = json.dumps(payload, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def _escape_text(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _shorten(text: str) -> str:
    if len(text) <= MAX_HISTORY_CONTENT_CHARS:
        return text
    return text[:MAX_HISTORY_CONTENT_CHARS] + " [truncated]"
