"""Both tool-call shapes: parsing, and a full run against a scripted gateway that asks for
tools the OpenAI way (`tool_call` with JSON-text arguments), executed by the real sandbox."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.demo_agent.tool_calls import InvalidToolCall, parse_tool_call
from services.kit.tool_catalogue import ToolCall
from tests.support.legacy_fakes import ScriptedGateway
from tests.support.legacy_services import HttpService, LegacyStack, demo_agent_process
from tests.support.logs import log_events, logged
from tests.support.processes import free_port

OPENAI_STYLE = {"tool_call": {"name": "web_search", "arguments": '{"query": "python"}'}}
FINAL = {"steps": ["Summarise the search results."]}


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (
            {"tool": {"name": "web_search", "args": {"query": "q"}}},
            ToolCall("web_search", {"query": "q"}),
        ),
        ({"tool": {"name": " weather_tool "}}, ToolCall("weather_tool", {})),
        (OPENAI_STYLE, ToolCall("web_search", {"query": "python"})),
        ({"tool_call": {"name": "x", "arguments": {"a": 1}}}, ToolCall("x", {"a": 1})),
        ({"tool_call": {"name": "x", "arguments": "  "}}, ToolCall("x", {})),
        ({"tool": {"name": "  "}}, None),
        ({"tool": "web_search"}, None),
        ({"steps": ["a"]}, None),
        (["tool"], None),
    ],
)
def test_plans_are_read_as_tool_calls_or_final_answers(
    plan: Any, expected: ToolCall | None
) -> None:
    assert parse_tool_call(json.dumps(plan)) == expected


def test_text_that_is_not_json_is_a_final_answer() -> None:
    assert parse_tool_call("Just do it.") is None


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [('{"query": ', "not valid JSON"), ('["q"]', "must be a JSON object"), (5, "JSON object")],
)
def test_unusable_arguments_are_refused(arguments: Any, reason: str) -> None:
    plan = {"tool_call": {"name": "web_search", "arguments": arguments}}
    with pytest.raises(InvalidToolCall, match=reason):
        parse_tool_call(json.dumps(plan))


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedGateway]:
    gateway = ScriptedGateway(OPENAI_STYLE, FINAL).start()
    yield gateway
    gateway.stop()


@pytest.fixture
def gateway(scripted: ScriptedGateway) -> ScriptedGateway:
    scripted.tool_plan, scripted.final_plan, scripted.always_tool = OPENAI_STYLE, FINAL, False
    scripted.prompts.clear()
    return scripted


@pytest.fixture(scope="module")
def scripted_agent(
    legacy_stack: LegacyStack, scripted: ScriptedGateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpService]:
    """A demo agent whose gateway is the scripted one; sandbox and memory are real."""
    agent = demo_agent_process(
        tmp_path_factory.mktemp("scripted"),
        free_port(),
        **legacy_stack.agent_env(MODEL_GATEWAY_GRPC_PORT=str(scripted.port)),
    )
    agent.process.start(timeout=30)
    yield agent
    agent.process.stop()


def plan_reply(agent: HttpService, prompt: str) -> httpx.Response:
    reply = httpx.post(f"{agent.url}/api/v1/plan", json={"prompt": prompt}, timeout=30)
    assert reply.status_code == 200
    return reply


def plan(agent: HttpService, prompt: str) -> dict[str, Any]:
    return plan_reply(agent, prompt).json()


def test_an_openai_style_tool_call_runs_in_the_sandbox(
    scripted_agent: HttpService, gateway: ScriptedGateway
) -> None:
    body = plan(scripted_agent, "Find something about python.")
    assert body["status"] == "ok"
    assert body["agent"]["turns_executed"] == 2
    output = json.loads(body["history"][2]["content"])
    assert output["tool_name"] == "web_search"
    assert output["result"]["stdout"]["query"] == "python"
    assert body["plan"]["llm_plan"] == FINAL
    first, second = gateway.prompts
    assert "<tool_result>" not in first
    tool_block = second.split("<tool_result>\n")[1].split("\n</tool_result>")[0]
    assert json.loads(tool_block) == output


def test_a_gateway_that_never_finishes_stops_after_three_turns(
    scripted_agent: HttpService, gateway: ScriptedGateway
) -> None:
    gateway.always_tool = True
    body = plan(scripted_agent, "Loop forever.")
    assert body["status"] == "max_turns"
    assert body["agent"] == {"turns_executed": 3, "max_turns": 3}
    assert len(gateway.prompts) == 3
    assert [m["role"] for m in body["history"]].count("tool_result") == 3
    assert gateway.prompts[2].count("<tool_result>") == 2


def test_unusable_arguments_are_fed_back_without_calling_the_sandbox(
    scripted_agent: HttpService, gateway: ScriptedGateway, legacy_stack: LegacyStack
) -> None:
    gateway.tool_plan = {"tool_call": {"name": "web_search", "arguments": "{broken"}}
    reply = plan_reply(scripted_agent, "Try a broken call.")
    body = reply.json()
    assert body["status"] == "ok"
    output = json.loads(body["history"][2]["content"])
    assert output["status"] == "failed"
    assert "arguments are not valid JSON" in output["error"]
    trace_id = reply.headers["X-Trace-ID"]
    # A marker request sent after the plan answered: once the sandbox has logged it, it has
    # logged every earlier request too, so an absent trace id means no call was made.
    marker = f"marker-{uuid.uuid4()}"
    httpx.get(f"{legacy_stack.sandbox.url}/health", headers={"X-Trace-ID": marker}, timeout=30)
    assert logged(legacy_stack.sandbox.process, "http_request", trace_id=marker, timeout=60)
    assert not [
        r
        for r in log_events(legacy_stack.sandbox.process, "http_request")
        if r.get("trace_id") == trace_id
    ]
