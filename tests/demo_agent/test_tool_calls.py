"""Tool calls in the demo agent: both shapes parsed (the gateway's `tool` and an OpenAI-style
`tool_call` with JSON-text arguments), and full runs through the real gateway, whose model
is a loopback OpenAI fake, with the tools executed by the real sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.demo_agent.tool_calls import InvalidToolCall, parse_tool_call
from services.kit.tool_catalogue import ToolCall
from tests.support.core_services import gateway_process
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.legacy_services import HttpService, LegacyStack, demo_agent_process
from tests.support.processes import free_port
from tests.support.spawning import Spawner

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


SEARCH = json.dumps({"tool": {"name": "web_search", "args": {"query": "python"}}})


@pytest.fixture(scope="module")
def model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake(model: FakeOpenAI) -> FakeOpenAI:
    model.reset()
    model.always(json.dumps(FINAL))
    return model


@pytest.fixture(scope="module")
def agent(
    legacy_stack: LegacyStack,
    model: FakeOpenAI,
    module_spawn: Spawner,
    tmp_path_factory: pytest.TempPathFactory,
) -> HttpService:
    """A demo agent on a real gateway whose model is the fake; sandbox and memory are the
    legacy stack's."""
    workdir = tmp_path_factory.mktemp("agent-on-fake-model")
    gateway_port = free_port()
    module_spawn(
        gateway_process(
            workdir,
            gateway_port,
            free_port(),
            legacy_stack.memory.grpc_port,
            LLM_PROVIDER="openai",
            OPENAI_BASE_URL=model.base_url,
            OPENAI_API_KEY="test-key",
        )
    )
    agent = demo_agent_process(
        workdir, free_port(), **legacy_stack.agent_env(MODEL_GATEWAY_GRPC_PORT=str(gateway_port))
    )
    module_spawn(agent.process)
    return agent


def plan(agent: HttpService, prompt: str) -> dict[str, Any]:
    reply = httpx.post(f"{agent.url}/api/v1/plan", json={"prompt": prompt}, timeout=60)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def test_a_tool_call_from_the_model_runs_in_the_sandbox(
    agent: HttpService, fake: FakeOpenAI
) -> None:
    fake.push(Reply.text(SEARCH))
    body = plan(agent, "Find something about python.")
    assert body["status"] == "ok"
    assert body["agent"]["turns_executed"] == 2
    output = json.loads(body["history"][2]["content"])
    assert output["tool_name"] == "web_search"
    assert output["result"]["stdout"]["query"] == "python"
    assert body["plan"]["llm_plan"]["steps"] == FINAL["steps"]
    first, second = (request.user_prompt for request in fake.requests)
    assert "<tool_result>" not in first
    tool_block = second.split("<tool_result>\n")[1].split("\n</tool_result>")[0]
    assert json.loads(tool_block) == output


def test_a_model_that_never_finishes_stops_after_three_turns(
    agent: HttpService, fake: FakeOpenAI
) -> None:
    fake.always(SEARCH)
    body = plan(agent, "Loop forever.")
    assert body["status"] == "max_turns"
    assert body["agent"] == {"turns_executed": 3, "max_turns": 3}
    assert len(fake.requests) == 3
    assert [m["role"] for m in body["history"]].count("tool_result") == 3
    assert fake.requests[2].user_prompt.count("<tool_result>") == 2
