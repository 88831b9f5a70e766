"""The demo agent when neighbours fail: every failure is reported in a 200 payload, never
raised as a 500, and a hung gateway is cut off by MODEL_GATEWAY_GRPC_TIMEOUT_SECONDS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.core_services import gateway_process
from tests.support.legacy_services import HttpService, LegacyStack, closed_url, demo_agent_process
from tests.support.processes import free_port, frozen
from tests.support.spawning import Spawner


@pytest.fixture(scope="module")
def stranded_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpService]:
    """A demo agent whose every neighbour (BFF, memory, sandbox, gateway) is down."""
    agent = demo_agent_process(
        tmp_path_factory.mktemp("stranded"),
        free_port(),
        GO_BFF_URL=closed_url(),
        MEMORY_URL=closed_url(),
        RUST_SANDBOX_URL=closed_url(),
        MODEL_GATEWAY_GRPC_HOST="127.0.0.1",
        MODEL_GATEWAY_GRPC_PORT=str(free_port()),
    )
    agent.process.start(timeout=30)
    yield agent
    agent.process.stop()


def post_plan(agent: HttpService, body: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{agent.url}/api/v1/plan", json=body, timeout=60)


def test_gateway_down_is_reported_in_the_payload(stranded_agent: HttpService) -> None:
    reply = post_plan(stranded_agent, {"prompt": "Plan a trip."})
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "error"
    assert body["error"].startswith("GetPlan failed: UNAVAILABLE")
    assert body["llm_response"] == {"error": body["error"], "status": "failed"}
    assert body["plan"] == {"prompt": "Plan a trip.", "llm_plan": None}
    assert body["agent"] == {"turns_executed": 1, "max_turns": 3}
    assert body["history"] == [{"role": "user", "content": "Plan a trip."}]


def test_bff_down_is_reported_in_bff_echo(stranded_agent: HttpService) -> None:
    body = post_plan(stranded_agent, {}).json()
    assert body["bff_echo"]["status"] == "failed"
    assert body["bff_echo"]["error"].startswith("connection failed")


def test_memory_down_is_reported_as_warnings(stranded_agent: HttpService) -> None:
    warnings = post_plan(stranded_agent, {}).json()["warnings"]
    assert len(warnings) == 2
    assert warnings[0].startswith("session history unavailable: connection failed")
    assert warnings[1].startswith("history not stored: connection failed")


def test_a_hung_gateway_is_cut_off_by_the_grpc_timeout(
    legacy_stack: LegacyStack, spawn: Spawner, tmp_path: Path
) -> None:
    gateway_port = free_port()
    gateway = spawn(
        gateway_process(tmp_path, gateway_port, free_port(), legacy_stack.memory.grpc_port)
    )
    agent = demo_agent_process(
        tmp_path,
        free_port(),
        **legacy_stack.agent_env(
            MODEL_GATEWAY_GRPC_PORT=str(gateway_port), MODEL_GATEWAY_GRPC_TIMEOUT_SECONDS="0.5"
        ),
    )
    spawn(agent.process)
    with frozen(gateway):  # a hung gateway: connected, never answering
        body = post_plan(agent, {"prompt": "Plan a trip."}).json()
    assert body["status"] == "error"
    assert body["error"].startswith("GetPlan failed: DEADLINE_EXCEEDED")
    assert body["llm_response"] == {"error": body["error"], "status": "failed"}


def test_sandbox_down_is_fed_back_as_the_tool_result(
    legacy_stack: LegacyStack, tmp_path: Path
) -> None:
    agent = demo_agent_process(
        tmp_path, free_port(), **legacy_stack.agent_env(RUST_SANDBOX_URL=closed_url())
    )
    agent.process.start(timeout=30)
    try:
        reply = post_plan(agent, {"prompt": "search for the latest news"})
    finally:
        agent.process.stop()
    body = reply.json()
    assert body["status"] == "ok"
    tool_result = json.loads(body["history"][2]["content"])
    assert tool_result["status"] == "failed"
    assert tool_result["tool_name"] == "web_search"
    assert tool_result["error"].startswith("connection failed")
