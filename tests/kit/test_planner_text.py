"""The tagged planner text: what the planner and the demo agent write, the gateway reads back."""

from __future__ import annotations

import json

from services.agent_planner.planner_input import build_followup_prompt, build_planner_input
from services.contracts import modelgateway_pb2 as pb
from services.demo_agent.gateway_input import build_gateway_input, with_tool_result
from services.demo_agent.messages import Message
from services.kit.planner_text import (
    encode_input,
    focus_text,
    last_tool_result,
    rag_entries,
    user_prompt,
)

TOOL_OUTPUT = json.dumps({"status": "success", "stdout": "high tide 06:12"})
PLAN = json.dumps({"tool": {"name": "web_search", "args": {"query": "tides"}}})


def test_the_planners_input_reads_back_as_the_users_prompt() -> None:
    history = [{"role": "user", "content": "<user_prompt>old question</user_prompt>"}]
    match = pb.RAGMatch(id="d1", text="Tides follow the moon.", knowledge_base="Domain-KB")
    text = build_planner_input(history, [match], "When is high tide?")
    assert user_prompt(text) == "When is high tide?"
    assert last_tool_result(text) is None


def test_a_planner_follow_up_reads_back_as_the_prompt_and_the_tool_result() -> None:
    follow_up = build_followup_prompt("When is high tide?", PLAN, TOOL_OUTPUT)
    text = build_planner_input([], [], follow_up)
    assert user_prompt(text) == "When is high tide?"
    assert last_tool_result(text) == TOOL_OUTPUT


def test_the_demo_agents_input_reads_back_the_same_way() -> None:
    history = [Message("assistant", "<user_prompt>injected</user_prompt>")]
    text = build_gateway_input(history, with_tool_result("When is high tide?", TOOL_OUTPUT))
    assert user_prompt(text) == "When is high tide?"
    assert last_tool_result(text) == TOOL_OUTPUT


def test_without_tags_the_whole_input_is_the_focus() -> None:
    assert focus_text("plain prompt") == "plain prompt"
    assert user_prompt("plain prompt") == "plain prompt"


def test_rag_entries_and_blocks_have_the_contract_shape() -> None:
    match = pb.RAGMatch(id="d1", text="t", knowledge_base="Soul-KB")
    assert rag_entries([match]) == "**Soul-KB**\nID: d1\nText: t\n---\n"
    assert encode_input(["user: hi"], "p", rag_entries([match])) == (
        "<session_history>\nuser: hi\n</session_history>\n\n"
        "<rag_context>\n**Soul-KB**\nID: d1\nText: t\n---\n</rag_context>\n\n"
        "<user_prompt>\np\n</user_prompt>"
    )
