"""The tagged text sent to GetPlan, defined once: written by the planner and the demo agent,
read by the gateway's providers and its mock.

    <session_history>        one `role: content` line per message
    <rag_context>            optional: one entry per knowledge-base match
    <user_prompt>            the current prompt; later turns append <plan> and <tool_result>

From the second turn on, the user prompt quotes the previous plan; a plan from an older
gateway carries the whole framed input in its `prompt` field, with its own `<user_prompt>`
tags, so blocks can nest and the last block is found by pairing tags rather than by the
nearest closing tag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

SESSION_HISTORY = "session_history"
RAG_CONTEXT = "rag_context"
USER_PROMPT = "user_prompt"
PLAN = "plan"
TOOL_RESULT = "tool_result"

_USER_PROMPT_TAG = re.compile(rf"<(/?){USER_PROMPT}>")
_TOOL_RESULT = re.compile(rf"<{TOOL_RESULT}>(.*?)(?:</{TOOL_RESULT}>|$)", re.DOTALL)


class RagMatchLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def knowledge_base(self) -> str: ...


def frame(tag: str, body: str) -> str:
    """`<tag>`, body (newline-terminated lines, or nothing), `</tag>`."""
    return f"<{tag}>\n{body}</{tag}>"


def encode_input(history_lines: Iterable[str], prompt: str, rag_context: str | None = None) -> str:
    """The framed input: history, then the RAG entries (when given), then the prompt."""
    blocks = [frame(SESSION_HISTORY, "".join(f"{line}\n" for line in history_lines))]
    if rag_context is not None:
        blocks.append(frame(RAG_CONTEXT, rag_context))
    blocks.append(frame(USER_PROMPT, f"{prompt}\n"))
    return "\n\n".join(blocks)


def rag_entries(matches: Iterable[RagMatchLike]) -> str:
    """Knowledge-base matches as text, as both the planner input and model prompts show them."""
    return "".join(f"**{m.knowledge_base}**\nID: {m.id}\nText: {m.text}\n---\n" for m in matches)


def append_tool_result(prompt: str, tool_output: str, plan: str | None = None) -> str:
    """The next turn's prompt: the previous one, the plan that asked for the tool (when
    given) and what the tool said."""
    blocks = [prompt]
    if plan is not None:
        blocks.append(frame(PLAN, f"{plan}\n"))
    blocks.append(frame(TOOL_RESULT, f"{tool_output}\n"))
    return "\n\n".join(blocks) + "\n"


def focus_text(planner_input: str) -> str:
    """The text inside the last (outermost) `<user_prompt>` block, else the whole input."""
    if f"</{USER_PROMPT}>" not in planner_input:
        return planner_input
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
    if f"<{TOOL_RESULT}>" not in text:
        return None
    results = _TOOL_RESULT.findall(text)
    return results[-1].strip() if results else None


def objective(text: str) -> str:
    """The user's request: the focus text before any `<plan>` / `<tool_result>` block."""
    cut = min(
        (i for i in (text.find(f"<{PLAN}>"), text.find(f"<{TOOL_RESULT}>")) if i >= 0),
        default=len(text),
    )
    return text[:cut].strip()


def user_prompt(planner_input: str) -> str:
    """What the user asked: the objective of the last `<user_prompt>` block. Plans echo it in
    their `prompt` field, so an answer stays small however long the framed input grows."""
    return objective(focus_text(planner_input))
