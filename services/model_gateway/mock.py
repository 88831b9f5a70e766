"""The deterministic mock model: no network, same input gives the same plan.

It decides on the last `<user_prompt>` block only, so words in the session history or RAG
context never trigger a tool, and a tool result there ends the loop with a final answer.
"""

from __future__ import annotations

import json
import re

from services.kit.planner_text import focus_text, last_tool_result, objective

MODEL_NAME = "mock"
THREE_STEPS = (
    "Restate the objective in one sentence and identify constraints.",
    "Propose a minimal 3-step plan with clear inputs/outputs.",
    "Return the plan as strict JSON for downstream parsing.",
)
_SEARCH_WORDS = re.compile(r"search|web|latest", re.IGNORECASE)
MAX_QUOTED_CHARS = 2000
# The steps of the plain plan, as JSON once: most mock plans are this one.
_STEPS = json.dumps(list(THREE_STEPS))


def mock_plan(planner_input: str) -> str:
    """The plan JSON text for planner_input (see the module docstring for the rules)."""
    text = focus_text(planner_input)
    prompt = objective(text)
    tool_output = last_tool_result(text)
    if tool_output is not None:
        return _reply(prompt, steps=final_steps(prompt, tool_output))
    if _SEARCH_WORDS.search(text):
        tool = {"name": "web_search", "args": {"query": text.strip()}}
        return _reply(prompt, tool=tool)
    return _three_step_reply(prompt)


def final_steps(goal: str, tool_output: str) -> list[str]:
    quoted = tool_output or "(empty)"
    if len(quoted) > MAX_QUOTED_CHARS:
        quoted = quoted[:MAX_QUOTED_CHARS] + "... [truncated]"
    return [
        f"Objective: {goal or '(not stated)'}",
        f"Tool output received: {quoted}",
        "Answer the objective from that tool output; no further tool calls are needed.",
    ]


def _three_step_reply(prompt: str) -> str:
    """_reply(prompt, steps=list(THREE_STEPS)), with the steps' JSON made once."""
    return f'{{"model_type": "{MODEL_NAME}", "prompt": {json.dumps(prompt)}, "steps": {_STEPS}}}'


def _reply(prompt: str, **body: object) -> str:
    """The plan JSON; `prompt` is the user's prompt (see planner_text.user_prompt)."""
    return json.dumps({"model_type": MODEL_NAME, "prompt": prompt, **body})
