"""The mock model over real gRPC: fixed plan, search tool call, final answer after a tool."""

from __future__ import annotations

import json

import grpc

from services.contracts import modelgateway_pb2 as pb
from services.model_gateway.mock import THREE_STEPS, _three_step_reply
from tests.model_gateway.conftest import Gateway
from tests.support.logs import logged

THREE_STEP_TEXTS = [
    "Restate the objective in one sentence and identify constraints.",
    "Propose a minimal 3-step plan with clear inputs/outputs.",
    "Return the plan as strict JSON for downstream parsing.",
]


def framed(user_prompt: str, rag: str = "", history: str = "") -> str:
    """The planner's input shape (SPEC 4.2)."""
    return (
        f"<session_history>\n{history}</session_history>\n\n"
        f"<rag_context>\n{rag}</rag_context>\n\n"
        f"<user_prompt>\n{user_prompt}\n</user_prompt>"
    )


def test_plain_prompt_gets_the_three_step_plan(mock_gateway: Gateway) -> None:
    reply = mock_gateway.plan("Plan a birthday party")
    assert reply.model_name == "mock"
    assert json.loads(reply.plan) == {
        "model_type": "mock",
        "prompt": "Plan a birthday party",
        "steps": THREE_STEP_TEXTS,
    }
    assert list(THREE_STEPS) == THREE_STEP_TEXTS


def test_search_words_ask_for_web_search(mock_gateway: Gateway) -> None:
    for prompt in ("  Search for Rust news  ", "what is on the WEB today", "Latest CPU prices"):
        plan = mock_gateway.plan_json(prompt)
        assert plan == {
            "model_type": "mock",
            "prompt": prompt.strip(),
            "tool": {"name": "web_search", "args": {"query": prompt.strip()}},
        }


def test_framed_search_prompt_queries_only_the_user_prompt(mock_gateway: Gateway) -> None:
    text = framed("find the latest Python release", history="user: hello\n")
    plan = mock_gateway.plan_json(text)
    assert plan["prompt"] == "find the latest Python release"
    assert plan["tool"] == {
        "name": "web_search",
        "args": {"query": "find the latest Python release"},
    }


def test_web_in_rag_context_alone_does_not_call_a_tool(mock_gateway: Gateway) -> None:
    rag = "**Domain-KB**\nID: d1\nText: how to search the web for the latest news\n---\n"
    text = framed("Plan a birthday party", rag=rag, history="user: web search latest\n")
    plan = mock_gateway.plan_json(text)
    assert "tool" not in plan
    assert plan["steps"] == THREE_STEP_TEXTS


def test_only_the_last_user_prompt_block_counts(mock_gateway: Gateway) -> None:
    text = framed("search the web") + "\n" + framed("Plan a birthday party")
    assert "tool" not in mock_gateway.plan_json(text)


def test_tool_result_gives_a_final_answer_mentioning_the_output(mock_gateway: Gateway) -> None:
    output = json.dumps(
        {"status": "ok", "stdout": '{"results": [{"title": "Python 3.14 released"}]}', "stderr": ""}
    )
    call = json.dumps({"tool": {"name": "web_search", "args": {"query": "latest Python"}}})
    prompt = (
        f"latest Python release\n\n<plan>\n{call}\n</plan>\n\n"
        f"<tool_result>\n{output}\n</tool_result>\n"
    )
    text = framed(prompt)
    first = mock_gateway.plan_json(text)
    assert "tool" not in first
    assert first["model_type"] == "mock"
    assert first["prompt"] == "latest Python release"
    assert any(output in step for step in first["steps"])
    assert any("latest Python release" in step for step in first["steps"])
    assert mock_gateway.plan_json(text) == first


def test_same_input_gives_the_same_plan(mock_gateway: Gateway) -> None:
    assert mock_gateway.plan("Plan a trip").plan == mock_gateway.plan("Plan a trip").plan


def test_blank_prompt_is_invalid(mock_gateway: Gateway) -> None:
    error = mock_gateway.plan_error("   ")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "prompt is required" in (error.details() or "")


def test_incomplete_resource_is_invalid(mock_gateway: Gateway) -> None:
    resources = [pb.Resource(type="image", uri="file:///a.png"), pb.Resource(type="audio")]
    error = mock_gateway.plan_error("describe these", resources)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "resources[1] must include non-empty type and uri" in (error.details() or "")


def test_resources_are_logged_with_count_and_types(mock_gateway: Gateway) -> None:
    resources = [
        pb.Resource(type="image", uri="file:///a.png"),
        pb.Resource(type="audio", uri="file:///b.wav"),
        pb.Resource(type="image", uri="file:///c.png"),
    ]
    mock_gateway.plan("describe the attachments", resources)
    lines = logged(mock_gateway.process, "plan_request", resource_count=3)
    assert lines, "no plan_request log line with resource_count 3"
    assert lines[-1]["resource_types"] == ["audio", "image"]
    assert lines[-1]["provider"] == "mock"
    assert lines[-1]["model"] == "mock"


def test_the_plan_echoes_the_users_prompt_not_the_framed_input(mock_gateway: Gateway) -> None:
    history = "".join(f"user: hello\nassistant: {'x' * 1900}\n" for _ in range(10))
    rag = "**Domain-KB**\nID: d1\nText: a long passage\n---\n" * 50
    reply = mock_gateway.plan(framed("hello", rag=rag, history=history)).plan
    assert json.loads(reply)["prompt"] == "hello"
    assert len(reply) < 1024


def test_an_older_plan_nesting_a_framed_input_still_finishes(mock_gateway: Gateway) -> None:
    """A plan from an older gateway carries the whole framed input in `prompt`."""
    prompt = "search the latest Python release"
    old_plan = json.dumps(
        {
            "model_type": "mock",
            "prompt": framed(prompt),
            "tool": {"name": "web_search", "args": {"query": prompt}},
        }
    )
    output = json.dumps({"status": "ok", "stdout": '{"results": []}', "stderr": ""})
    grown = f"{prompt}\n\n<plan>\n{old_plan}\n</plan>\n\n<tool_result>\n{output}\n</tool_result>\n"
    plan = mock_gateway.plan_json(framed(grown))
    assert "tool" not in plan
    assert plan["prompt"] == prompt
    assert plan["steps"][0] == f"Objective: {prompt}"


def test_search_prompt_finishes_on_the_planners_second_turn(mock_gateway: Gateway) -> None:
    """Turn 2 quotes turn 1's plan and the tool's output inside the user prompt."""
    prompt = "search the latest Python release"
    turn1 = framed(prompt)
    plan1 = mock_gateway.plan(turn1).plan
    assert json.loads(plan1)["tool"]["name"] == "web_search"
    output = json.dumps({"status": "ok", "stdout": '{"results": []}', "stderr": ""})
    grown = f"{prompt}\n\n<plan>\n{plan1}\n</plan>\n\n<tool_result>\n{output}\n</tool_result>\n"
    turn2 = framed(grown, history=f"user: [tool-plan]\nassistant: {plan1}\n")
    plan2 = mock_gateway.plan_json(turn2)
    assert "tool" not in plan2
    assert any(output in step for step in plan2["steps"])
    assert plan2["steps"][0] == f"Objective: {prompt}"


def test_oversized_prompt_is_invalid(mock_gateway: Gateway) -> None:
    error = mock_gateway.plan_error("x" * 1_000_001)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "prompt too long" in (error.details() or "")
    assert mock_gateway.plan("still serving").model_name == "mock"


def test_the_plain_plan_text_is_the_json_of_its_fields() -> None:
    """The three-step plan's text is built from a JSON-once template; it must be exactly
    the text json.dumps gives for the same fields."""
    for prompt in ("tidy the garage", 'say "hi" \\ é ☃', ""):
        assert _three_step_reply(prompt) == json.dumps(
            {"model_type": "mock", "prompt": prompt, "steps": list(THREE_STEPS)}
        )
