"""Turn a model's free-form reply into the strict JSON the planner expects.

Order: (1) the reply is a JSON object; (2) the JSON object inside a ``` fence; a candidate
counts only when it is a valid tool call or plan; (3) otherwise the raw text becomes the
single step of a plan. The output is always a JSON object with `model_type` and `prompt`;
`prompt` is the user's prompt, not the whole framed planner input (see planner_text.user_prompt).
"""

from __future__ import annotations

import json
import re
from typing import Any

from services.kit.json_limits import loads_bounded
from services.kit.planner_text import user_prompt
from services.kit.tool_catalogue import tool_call_parts

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)


def normalise_reply(reply: str, provider: str, planner_input: str) -> str:
    prompt = user_prompt(planner_input)
    for candidate in _candidates(reply):
        shaped = shape_object(candidate, provider, prompt)
        if shaped is not None:
            return json.dumps(shaped)
    return json.dumps({"model_type": provider, "steps": [reply], "prompt": prompt})


def _candidates(reply: str) -> list[dict[str, Any]]:
    texts = [reply.strip(), *(block.strip() for block in _FENCE.findall(reply))]
    found = []
    for text in texts:
        try:
            value = loads_bounded(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def shape_object(value: dict[str, Any], provider: str, prompt: str) -> dict[str, Any] | None:
    """The normalised tool call or plan for a parsed object, or None when it is neither."""
    if "tool" in value:
        tool_call = _tool_call(value, provider, prompt)
        if tool_call is not None:
            return tool_call
    steps = value.get("steps")
    if _valid_steps(steps):
        return {"model_type": provider, "steps": steps, "prompt": prompt}
    return None


def _tool_call(value: dict[str, Any], provider: str, prompt: str) -> dict[str, Any] | None:
    parts = tool_call_parts(value["tool"])
    if parts is None:
        return None
    name, args = parts
    shaped = {**value, "tool": {**value["tool"], "name": name, "args": args}}
    shaped.setdefault("model_type", provider)
    shaped.setdefault("prompt", prompt)
    return shaped


def _valid_steps(steps: Any) -> bool:
    return (
        isinstance(steps, list)
        and bool(steps)
        and all(isinstance(step, str) and step.strip() for step in steps)
    )
