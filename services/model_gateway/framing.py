"""Reading the planner's framed input: the last `<user_prompt>` block and tool results in it."""

from __future__ import annotations

import re

_USER_PROMPT = re.compile(r"<user_prompt>(.*?)</user_prompt>", re.DOTALL)
_TOOL_RESULT = re.compile(r"<tool_result>(.*?)(?:</tool_result>|$)", re.DOTALL)


def focus_text(planner_input: str) -> str:
    """The text inside the last `<user_prompt>` block, or the whole input when there is none."""
    blocks = _USER_PROMPT.findall(planner_input)
    return blocks[-1] if blocks else planner_input


def last_tool_result(text: str) -> str | None:
    """The content of the last `<tool_result>` block in text (trimmed), or None."""
    results = _TOOL_RESULT.findall(text)
    return results[-1].strip() if results else None


def objective(text: str) -> str:
    """The user's request: the focus text before any `<plan>` / `<tool_result>` block."""
    cut = min(
        (i for i in (text.find("<plan>"), text.find("<tool_result>")) if i >= 0),
        default=len(text),
    )
    return text[:cut].strip()
