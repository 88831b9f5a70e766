"""The one definition of the tools the sandbox runs and the gateway offers to models."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """A tool a plan asks for, with its arguments."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)  # JSON schema of the args object

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


WEB_SEARCH = ToolSpec(
    "web_search",
    "Search the web and return a list of results (title, url, snippet).",
    _object({"query": {"type": "string", "description": "what to search for"}}, ["query"]),
)
EXECUTE_CODE = ToolSpec(
    "execute_code",
    "Run a short program in an isolated sandbox and return its output and exit code.",
    _object(
        {
            "language": {"type": "string", "enum": ["python", "java"], "default": "python"},
            "code": {"type": "string", "description": "the program's source"},
        },
        ["code"],
    ),
)
WEATHER_TOOL = ToolSpec(
    "weather_tool",
    "Demo stub: returns fixed weather for a city (not real data).",
    _object({"city": {"type": "string"}}, ["city"]),
)

CATALOGUE: tuple[ToolSpec, ...] = (WEB_SEARCH, EXECUTE_CODE, WEATHER_TOOL)
TOOLS_BY_NAME: dict[str, ToolSpec] = {tool.name: tool for tool in CATALOGUE}


def catalogue_json() -> str:
    """The catalogue as JSON text, for the `<available_tools>` block of model prompts."""
    return json.dumps([tool.as_json() for tool in CATALOGUE], indent=2)


def tool_call_parts(tool: object) -> tuple[str, dict[str, Any]] | None:
    """The (name, args) of a plan's `tool` value: an object with a non-blank string `name`
    and an optional object `args` (missing or null means no arguments). None otherwise."""
    if not isinstance(tool, dict):
        return None
    name, args = tool.get("name"), tool.get("args")
    if not isinstance(name, str) or not name.strip():
        return None
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return None
    return name.strip(), args
