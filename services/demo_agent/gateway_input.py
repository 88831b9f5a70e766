"""The text sent to GetPlan: session history, then the current prompt in `<user_prompt>`.

Text that came from elsewhere (history, tool output) has its angle brackets escaped, so it
can never open or close one of the framing blocks the gateway reads.
"""

from __future__ import annotations

import json
from typing import Any

from services.demo_agent.messages import Message

MAX_HISTORY_CONTENT_CHARS = 2000


def build_gateway_input(history: list[Message], prompt: str) -> str:
    lines = [f"{m.role}: {_escape_text(_shorten(m.content))}" for m in history]
    return (
        "<session_history>\n"
        + "".join(f"{line}\n" for line in lines)
        + "</session_history>\n\n"
        + f"<user_prompt>\n{prompt}\n</user_prompt>"
    )


def with_tool_result(prompt: str, tool_output: str) -> str:
    """The next turn's prompt: the previous one plus the tool's output in `<tool_result>`."""
    return f"{prompt}\n\n<tool_result>\n{tool_output}\n</tool_result>\n"


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
