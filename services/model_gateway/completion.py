"""A provider's answer as one value, whether it came as one JSON body or as SSE chunks.

Both paths end in the same `Completion` (content, tool calls, usage, model), and so in the
same plan: tool-call arguments that arrive in pieces, for several calls, are joined by the
call's index exactly as the non-streaming body would have held them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from services.kit.json_limits import loads_bounded
from services.model_gateway.errors import UpstreamUnavailable


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # JSON object text, as the provider sent it


@dataclass(frozen=True)
class Completion:
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    model: str = ""


def parse_completion(body: Any, provider: str) -> Completion:
    """The Completion in a non-streaming chat completion body."""
    try:
        message = body["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise UpstreamUnavailable(f"{provider} sent a reply without choices[0].message") from None
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    return Completion(
        content=content if isinstance(content, str) else "",
        tool_calls=tuple(_tool_call(call) for call in calls or () if isinstance(call, dict)),
        usage=parse_usage(body.get("usage")),
        model=str(body.get("model") or ""),
    )


def parse_usage(value: Any) -> Usage:
    if not isinstance(value, dict):
        return Usage()
    return Usage(_count(value.get("prompt_tokens")), _count(value.get("completion_tokens")))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _tool_call(call: dict[str, Any]) -> ToolCall:
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    assert isinstance(function, dict)
    return ToolCall(str(function.get("name") or ""), str(function.get("arguments") or ""))


class StreamAssembler:
    """Collects the chunks of a streamed chat completion; `add` returns the content delta."""

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._content: list[str] = []
        self._names: dict[int, list[str]] = {}
        self._arguments: dict[int, list[str]] = {}
        self._usage = Usage()
        self._model = ""
        self.finished = False  # a finish_reason arrived: the answer is whole

    def add(self, chunk: Any) -> str:
        if not isinstance(chunk, dict):
            raise UpstreamUnavailable(f"{self._provider} sent a stream chunk that is not an object")
        if "error" in chunk:
            raise UpstreamUnavailable(f"{self._provider} failed mid-stream: {chunk['error']}")
        self._model = str(chunk.get("model") or self._model)
        if chunk.get("usage"):
            self._usage = parse_usage(chunk["usage"])
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return ""
        choice = choices[0]
        if choice.get("finish_reason"):
            self.finished = True
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        assert isinstance(delta, dict)
        for call in delta.get("tool_calls") or ():
            self._add_tool_call(call)
        text = delta.get("content")
        if isinstance(text, str) and text:
            self._content.append(text)
            return text
        return ""

    def _add_tool_call(self, call: Any) -> None:
        if not isinstance(call, dict) or not isinstance(call.get("index", 0), int):
            return
        index = int(call.get("index", 0))
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        assert isinstance(function, dict)
        self._names.setdefault(index, []).append(str(function.get("name") or ""))
        self._arguments.setdefault(index, []).append(str(function.get("arguments") or ""))

    def completion(self) -> Completion:
        calls = tuple(
            ToolCall("".join(self._names[i]), "".join(self._arguments[i]))
            for i in sorted(self._names)
        )
        return Completion("".join(self._content), calls, self._usage, self._model)


def reply_text(completion: Completion, provider: str) -> str:
    """The text to normalise: a native tool call as `{"tool": ...}` JSON (every call under
    `tool_calls` when there are several), else the content."""
    if completion.tool_calls:
        calls = [_plan_tool(call, provider) for call in completion.tool_calls]
        shaped: dict[str, Any] = {"tool": calls[0]}
        if len(calls) > 1:
            shaped["tool_calls"] = calls
        return json.dumps(shaped)
    if not completion.content.strip():
        raise UpstreamUnavailable(f"{provider} sent a reply without content or tool calls")
    return completion.content


def _plan_tool(call: ToolCall, provider: str) -> dict[str, Any]:
    try:
        args = loads_bounded(call.arguments) if call.arguments.strip() else {}
    except ValueError:
        args = None
    if not call.name or not isinstance(args, dict):
        raise UpstreamUnavailable(
            f"{provider} sent a tool call without a name or with arguments that are not a "
            "JSON object"
        )
    return {"name": call.name, "args": args}
