"""What every tool returns: the ToolResponse's three fields."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ToolOutcome:
    status: str
    stdout: str
    stderr: str = ""

    @classmethod
    def from_json(cls, status: str, payload: dict[str, Any], stderr: str = "") -> ToolOutcome:
        return cls(status, json_text(payload), stderr)


def json_text(payload: dict[str, Any]) -> str:
    """Readable UTF-8 JSON; escaped ASCII when the payload holds lone surrogates (which
    can arrive in args_json) so the text always encodes."""
    text = json.dumps(payload, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(payload)
    return text


@dataclass(frozen=True)
class ExecutionRequest:
    """One request, whichever door (gRPC or HTTP) it came through."""

    tool_name: str
    args: dict[str, Any]
    execution_environment: str = ""
    memory_limit_mb: int = 0
    timeout_seconds: int = 0
    cpu_limit_mhz: int = 0
