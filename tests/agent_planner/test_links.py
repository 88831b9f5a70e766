"""How the planner talks to the others: mTLS to the gateway, concurrent requests that do
not wait on each other, and the span tree it exports over OTLP."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.support.certs import client_credentials, client_tls_env, server_tls_env
from tests.support.core_services import CoreStack, gateway_process
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.processes import free_port
from tests.support.spawning import Spawner

HELLO = "Generate a 3-step plan to bake bread"
LOOP_CHILDREN = {
    "MemoryAccess.PlanContext",
    "PlanGeneration",
    "ToolCallExecution",
}


def test_mtls_to_the_gateway(
    core_stack: CoreStack, spawn: Spawner, tmp_path: Path, certs: Path
) -> None:
    grpc_port, http_port = free_port(), free_port()
    spawn(
        gateway_process(
            tmp_path / "gateway",
            grpc_port,
            http_port,
            core_stack.memory.grpc_port,
            credentials=client_credentials(certs),
            **server_tls_env(certs),
        )
    )
    address = f"localhost:{grpc_port}"
    with_cert = core_stack.start_planner(
        spawn,
        tmp_path / "with-cert",
        MODEL_GATEWAY_ADDR=address,
        **client_tls_env(certs, "model-gateway"),
    )
    reply = with_cert.plan(HELLO, "s-mtls")
    assert reply.status_code == 200, reply.text
    assert json.loads(reply.json()["result"])["model_type"] == "mock"

    plaintext = core_stack.start_planner(spawn, tmp_path / "plain", MODEL_GATEWAY_ADDR=address)
    refused = plaintext.plan(HELLO, "s-mtls")
    assert refused.status_code == 500
    assert refused.json()["error"].startswith("Agent execution failed: GetPlan: UNAVAILABLE")


def test_concurrent_requests_do_not_wait_for_each_other(
    core_stack: CoreStack, spawn: Spawner, tmp_path: Path
) -> None:
    # The fake answers only once all six model calls are waiting on it at the same time,
    # which a planner or gateway that serialises requests never achieves.
    with FakeOpenAI(Reply.text('{"steps": ["together"]}', gather=6)) as fake:
        gateway = core_stack.start_openai_gateway(
            spawn, tmp_path / "gateway", fake.base_url, REQUEST_TIMEOUT_SECONDS="90"
        )
        planner = core_stack.start_planner(spawn, tmp_path / "planner", MODEL_GATEWAY_ADDR=gateway)
        with ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(lambda i: planner.plan(HELLO, f"s-conc-{i}"), range(6)))
    assert [r.status_code for r in replies] == [200] * 6, [r.text for r in replies]
    assert all(json.loads(r.json()["result"])["steps"] == ["together"] for r in replies)
    assert fake.peak_in_flight == 6


def test_exported_span_tree(core_stack: CoreStack, spawn: Spawner, tmp_path: Path) -> None:
    receiver = OtlpReceiver().start()
    try:
        planner = core_stack.start_planner(
            spawn,
            tmp_path,
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_SERVICE_NAME="planner-under-test",
        )
        reply = planner.plan("Search the web for sourdough tips", "s-spans")
        assert reply.status_code == 200
        expected = {*LOOP_CHILDREN, "AgentLoopExecution"}
        spans = receiver.wait_for(lambda got: {s.name for s in got} >= expected)
    finally:
        receiver.stop()
    ours = [s for s in spans if s.service == "planner-under-test"]
    (root,) = [s for s in ours if s.name == "AgentLoopExecution"]
    assert root.attributes["session_id"] == "s-spans"
    assert root.attributes["resource_count"] == 0
    assert root.attributes["turn"] == 2
    children = [s for s in ours if s.parent_span_id == root.span_id]
    assert {s.name for s in children} == LOOP_CHILDREN
    assert sum(s.name == "PlanGeneration" for s in children) == 2
    (tool_span,) = [s for s in children if s.name == "ToolCallExecution"]
    assert tool_span.attributes["tool.name"] == "web_search"


def test_a_run_has_its_own_span_linked_to_the_request_that_started_it(
    core_stack: CoreStack, spawn: Spawner, tmp_path: Path
) -> None:
    receiver = OtlpReceiver().start()
    try:
        planner = core_stack.start_planner(
            spawn,
            tmp_path,
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_SERVICE_NAME="planner-runs-spans",
        )
        reply = httpx.post(
            f"{planner.url}/runs",
            json={"prompt": HELLO, "session_id": "s-run-spans"},
            headers=planner.headers(),
        )
        assert reply.status_code == 202
        expected = {"StartRun", "AgentRun", "AgentLoopExecution"}
        spans = receiver.wait_for(lambda got: {s.name for s in got} >= expected)
    finally:
        receiver.stop()
    ours = [s for s in spans if s.service == "planner-runs-spans"]
    (request,) = [s for s in ours if s.name == "StartRun"]
    (run,) = [s for s in ours if s.name == "AgentRun"]
    (loop,) = [s for s in ours if s.name == "AgentLoopExecution"]
    assert request.attributes["run_id"] == run.attributes["run_id"] == reply.json()["run_id"]
    assert run.links == ((request.trace_id, request.span_id),)
    assert loop.parent_span_id == run.span_id
