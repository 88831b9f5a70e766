"""The planner input framing, the follow-up prompt and tool-call detection."""

from __future__ import annotations

import json

import pytest

from services.agent_planner.planner_input import (
    build_followup_prompt,
    build_planner_input,
    clip,
    clip_history,
    parse_tool_call,
)
from services.contracts import modelgateway_pb2 as pb
from services.kit.tool_catalogue import ToolCall


def test_planner_input_has_the_exact_shape() -> None:
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello", "timestamp": "t"},
        {"role": "", "content": ""},
    ]
    matches = [
        pb.RAGMatch(id="d1", text="dogs bark", knowledge_base="Domain-KB", distance=0.1),
        pb.RAGMatch(id="m1", text="Playbook for: x", knowledge_base="Mind-KB"),
    ]
    assert build_planner_input(history, matches, "walk the dog") == (
        "<session_history>\n"
        "user: hi\n"
        "assistant: hello\n"
        "</session_history>\n\n"
        "<rag_context>\n"
        "**Domain-KB**\nID: d1\nText: dogs bark\n---\n"
        "**Mind-KB**\nID: m1\nText: Playbook for: x\n---\n"
        "</rag_context>\n\n"
        "<user_prompt>\nwalk the dog\n</user_prompt>\n"
    )


def test_empty_history_and_context_keep_their_blocks() -> None:
    assert build_planner_input([], [], "p") == (
        "<session_history>\n</session_history>\n\n<rag_context>\n</rag_context>\n\n"
        "<user_prompt>\np\n</user_prompt>\n"
    )


def test_followup_prompt_appends_plan_and_tool_result() -> None:
    assert build_followup_prompt("find x", '{"tool":1}', '{"status":"ok"}') == (
        'find x\n\n<plan>\n{"tool":1}\n</plan>\n\n<tool_result>\n{"status":"ok"}\n</tool_result>\n'
    )


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (
            {"tool": {"name": "web_search", "args": {"query": "q"}}},
            ToolCall("web_search", {"query": "q"}),
        ),
        ({"tool": {"name": "weather_tool"}}, ToolCall("weather_tool", {})),
        ({"tool": {"name": " execute_code ", "args": None}}, ToolCall("execute_code", {})),
        ({"model_type": "mock", "prompt": "p", "tool": {"name": "t", "args": {}}}, ToolCall("t")),
    ],
)
def test_tool_calls_are_recognised(plan: dict[str, object], expected: ToolCall) -> None:
    assert parse_tool_call(json.dumps(plan)) == expected


@pytest.mark.parametrize(
    "plan",
    [
        '{"steps": ["a", "b"]}',
        '{"tool": "web_search"}',
        '{"tool": {"name": ""}}',
        '{"tool": {"name": "   "}}',
        '{"tool": {"name": 3}}',
        '{"tool": {"name": "t", "args": ["not", "an", "object"]}}',
        '["tool"]',
        "plain text answer",
        "",
    ],
)
def test_anything_else_is_a_final_answer(plan: str) -> None:
    assert parse_tool_call(plan) is None


def test_clip_marks_what_it_cut() -> None:
    assert clip("short", 10) == "short"
    assert clip("x" * 15, 10) == "x" * 10 + " ...[truncated 5 chars]"


def test_clip_history_bounds_each_message() -> None:
    history: list[dict[str, object]] = [
        {"role": "user", "content": "y" * 3000},
        {"role": "tool", "content": {"a": 1}},
    ]
    assert clip_history(history, 2000) == [
        {"role": "user", "content": "y" * 2000 + " ...[truncated 1000 chars]"},
        {"role": "tool", "content": '{"a": 1}'},
    ]
