"""Recognising a tool call in a plan. Two shapes are accepted: `{"tool":{"name","args"}}`
(the gateway's) and `{"tool_call":{"name","arguments"}}` (OpenAI style, where the
arguments may be JSON text). Anything else is a final answer."""

from __future__ import annotations

from typing import Any

from services.kit.json_limits import loads_bounded
from services.kit.tool_catalogue import ToolCall


class InvalidToolCall(Exception):
    """The plan asks for a tool, but its arguments are not a JSON object."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"tool {name!r}: {reason}")
        self.name = name


def parse_tool_call(plan_text: str) -> ToolCall | None:
    """The tool call the plan asks for, or None for a final answer; raises InvalidToolCall."""
    try:
        plan = loads_bounded(plan_text)
    except ValueError:
        return None
    if not isinstance(plan, dict):
        return None
    for key, args_key in (("tool", "args"), ("tool_call", "arguments")):
        spec = plan.get(key)
        if isinstance(spec, dict):
            return _tool_call(spec, args_key)
    return None


def _tool_call(spec: dict[str, Any], args_key: str) -> ToolCall | None:
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    return ToolCall(name.strip(), _arguments(name.strip(), spec.get(args_key)))


def _arguments(name: str, raw: Any) -> dict[str, Any]:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, str):
        try:
            raw = loads_bounded(raw)
        except ValueError as exc:
            raise InvalidToolCall(name, f"arguments are not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidToolCall(name, "arguments must be a JSON object")
    return raw
