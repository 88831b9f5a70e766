"""Reading the planner's framed input: the last `<user_prompt>` block and tool results in it.

From the second turn on, the user prompt quotes the previous plan; a plan from an older
gateway carries the whole framed input in its `prompt` field, with its own `<user_prompt>`
tags, so blocks can nest and the last block is found by pairing tags rather than by the
nearest closing tag.
"""

from __future__ import annotations

import re

_USER_PROMPT_TAG = re.compile(r"<(/?)user_prompt>")
_TOOL_RESULT = re.compile(r"<tool_result>(.*?)(?:</tool_result>|$)", re.DOTALL)


def focus_text(planner_input: str) -> str:
    """The text inside the last (outermost) `<user_prompt>` block, else the whole input."""
    tags = list(_USER_PROMPT_TAG.finditer(planner_input))
    closes = [i for i, tag in enumerate(tags) if tag.group(1)]
    if not closes:
        return planner_input
    last_close = closes[-1]
    depth = 0
    for tag in reversed(tags[: last_close + 1]):
        depth += 1 if tag.group(1) else -1
        if depth == 0:
            return planner_input[tag.end() : tags[last_close].start()]
    return planner_input


def last_tool_result(text: str) -> str | None:
    """The content of the last `<tool_result>` block in text (trimmed), or None."""
    results = _TOOL_RESULT.findall(text)
    return results[-1].strip() if results else None


def user_prompt(planner_input: str) -> str:
    """What the user asked: the objective of the last `<user_prompt>` block. Plans echo it in
    their `prompt` field, so an answer stays small however long the framed input grows."""
    return objective(focus_text(planner_input))


def objective(text: str) -> str:
    """The user's request: the focus text before any `<plan>` / `<tool_result>` block."""
    cut = min(
        (i for i in (text.find("<plan>"), text.find("<tool_result>")) if i >= 0),
        default=len(text),
    )
    return text[:cut].strip()
