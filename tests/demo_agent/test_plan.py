"""POST /api/v1/plan on the demo agent against the real legacy stack: the echo check, plans
from the mock gateway over gRPC, web_search through the sandbox's HTTP API, history in
memory, and request validation."""

from __future__ import annotations

import json
from typing import Any

import httpx

from services.demo_agent.gateway_input import build_gateway_input
from services.demo_agent.http import DEFAULT_PROMPT
from services.demo_agent.messages import Message
from tests.support.legacy_services import LegacyStack
from tests.support.logs import logged

THREE_STEPS = [
    "Restate the objective in one sentence and identify constraints.",
    "Propose a minimal 3-step plan with clear inputs/outputs.",
    "Return the plan as strict JSON for downstream parsing.",
]


def plan(stack: LegacyStack, body: Any = None, **headers: str) -> httpx.Response:
    return httpx.post(f"{stack.agent.url}/api/v1/plan", json=body, headers=headers, timeout=30)


def test_the_default_prompt_gets_the_three_step_plan(legacy_stack: LegacyStack) -> None:
    reply = plan(legacy_stack, {})
    assert reply.status_code == 200
    body = reply.json()
    assert body["service"] == "demo_agent"
    assert body["status"] == "ok"
    assert body["agent"] == {"turns_executed": 1, "max_turns": 3}
    assert body["plan"]["prompt"] == DEFAULT_PROMPT
    assert body["plan"]["llm_plan"]["steps"] == THREE_STEPS
    assert body["llm_response"]["model_name"] == "mock"
    assert json.loads(body["llm_response"]["plan"]) == body["plan"]["llm_plan"]
    assert [m["role"] for m in body["history"]] == ["user", "assistant"]
    assert body["session_id"].startswith("demo-")
    assert "warnings" not in body and "error" not in body


def test_no_body_at_all_uses_the_default_prompt(legacy_stack: LegacyStack) -> None:
    reply = httpx.post(f"{legacy_stack.agent.url}/api/v1/plan", timeout=30)
    assert reply.json()["plan"]["prompt"] == DEFAULT_PROMPT


def test_the_echo_check_reaches_the_bff_with_the_request_id(legacy_stack: LegacyStack) -> None:
    body = plan(legacy_stack, {}, **{"X-Request-Id": "agent-rid-1"}).json()
    assert body["request_id"] == "agent-rid-1"
    assert body["bff_echo"] == {
        "service": "bff",
        "received": {"ping": "demo_agent", "request_id": "agent-rid-1"},
        "request_id": "agent-rid-1",
    }
    assert legacy_stack.bff.logged("http_request", request_id="agent-rid-1", path="/api/v1/echo")


def test_a_search_prompt_runs_web_search_in_the_sandbox_and_finishes(
    legacy_stack: LegacyStack,
) -> None:
    prompt = "Search the web for asyncio tutorials"
    reply = plan(legacy_stack, {"prompt": prompt})
    body = reply.json()
    assert body["status"] == "ok"
    assert body["agent"]["turns_executed"] == 2
    roles = [m["role"] for m in body["history"]]
    assert roles == ["user", "assistant", "tool_result", "assistant"]
    asked = json.loads(body["history"][1]["content"])
    assert asked["tool"] == {"name": "web_search", "args": {"query": prompt}}

    output = json.loads(body["history"][2]["content"])
    assert output["status"] == "ok"
    assert output["tool_name"] == "web_search"
    search = output["result"]["stdout"]
    assert search["query"] == prompt
    assert search["provider"] == "mock"
    assert search["results"] and all("url" in r for r in search["results"])
    assert any(search["results"][0]["url"] in step for step in body["plan"]["llm_plan"]["steps"])

    # The call went over the sandbox's HTTP API, carrying this request's trace id.
    trace_id = reply.headers["X-Trace-ID"]
    sandbox_calls = logged(legacy_stack.sandbox.process, "http_request", trace_id=trace_id)
    assert [r["path"] for r in sandbox_calls] == ["/api/v1/execute_tool"]


def test_the_run_is_stored_in_memory_and_read_back_next_time(legacy_stack: LegacyStack) -> None:
    session = "agent-history-1"
    first = plan(legacy_stack, {"prompt": "Plan a garden.", "session_id": session}).json()
    stored = httpx.get(
        f"{legacy_stack.memory.url}/memory/latest", params={"session_id": session}, timeout=30
    ).json()
    assert [(m["role"], m["content"]) for m in stored["messages"]] == [
        (m["role"], m["content"]) for m in first["history"]
    ]

    second = plan(legacy_stack, {"prompt": "Now plan a pond.", "session_id": session}).json()
    assert second["plan"]["llm_plan"]["prompt"] == "Now plan a pond."
    # The mock echoes only the user's prompt; the gateway logs the size of the whole input,
    # which is the first run's history framed before the new prompt.
    read_back = [Message(m["role"], m["content"]) for m in stored["messages"]]
    expected = len(build_gateway_input(read_back, "Now plan a pond."))
    assert expected > len(build_gateway_input([], "Now plan a pond."))
    assert logged(legacy_stack.gateway, "plan_request", prompt_chars=expected)


def test_bad_bodies_are_refused_naming_the_field(legacy_stack: LegacyStack) -> None:
    for body, field in (
        ({"prompt": "   "}, "prompt"),
        ({"prompt": 7}, "prompt"),
        ({"prompt": "x" * 40_000}, "prompt"),
        ({"session_id": ""}, "session_id"),
    ):
        reply = plan(legacy_stack, body)
        assert reply.status_code == 422, body
        assert field in reply.json()["error"]
