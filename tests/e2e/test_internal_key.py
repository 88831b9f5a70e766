"""A core stack with INTERNAL_API_KEY: a tool-using /plan still crosses every internal link
(planner -> memory HTTP and gRPC, gateway, sandbox; gateway -> memory), while a caller
without the key gets no further than the probes of memory, gateway and sandbox."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import httpx
import pytest

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from tests.support.core_services import CoreStack, start_core_stack
from tests.support.spawning import Spawner
from tests.support.sse import SseEvent, parse_stream

KEY = "e2e-internal-key-5d2b"
AUTH = {"Authorization": f"Bearer {KEY}"}
AUTH_METADATA = {"authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def keyed_stack(
    session_spawn: Spawner, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CoreStack]:
    yield start_core_stack(session_spawn, tmp_path_factory.mktemp("keyed"), internal_key=KEY)


def grpc_code(address: str, call: str, request: object, key: str | None) -> grpc.StatusCode:
    metadata = [("authorization", f"Bearer {key}")] if key else []
    with grpc.insecure_channel(address) as channel:
        stub: object = (
            pb_grpc.ToolServiceStub(channel)
            if call == "ExecuteTool"
            else pb_grpc.ModelGatewayStub(channel)
        )
        try:
            getattr(stub, call)(request, metadata=metadata, timeout=60)
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def test_a_tool_using_plan_crosses_every_internal_link(keyed_stack: CoreStack) -> None:
    session, trace = f"keyed-{uuid.uuid4()}", f"keyed-trace-{uuid.uuid4()}"
    reply = keyed_stack.planner.plan("Search the web for otters", session, trace_id=trace)
    assert reply.status_code == 200, reply.text
    events = keyed_stack.planner.audit_events(trace)
    assert "TOOL_RESULT" in events and "TOOL_ERROR" not in events, events
    history = httpx.get(
        f"{keyed_stack.memory.url}/memory/latest",
        params={"session_id": session},
        headers=AUTH,
        timeout=10,
    )
    assert history.status_code == 200
    assert history.json()["messages"], "the planner's session writes did not reach memory"
    planner_log = keyed_stack["planner"].log()
    assert "UNAUTHENTICATED" not in planner_log and "HTTP 401" not in planner_log


def test_without_the_key_only_the_probes_answer(keyed_stack: CoreStack) -> None:
    memory, ports = keyed_stack.memory, keyed_stack.ports
    gateway_grpc = f"localhost:{ports.gateway_grpc}"
    rag = pb.RAGContextRequest(query="otters", top_k=1, knowledge_bases=["Body-KB"])
    calls = [
        (memory.address, "GetRAGContext", rag),
        (memory.address, "GetPlanContext", pb.PlanContextRequest(rag=rag, session_id="x")),
        (gateway_grpc, "GetRAGContext", rag),
        (gateway_grpc, "GetPlan", pb.PlanRequest(prompt="hi")),
        (f"localhost:{ports.sandbox_grpc}", "ExecuteTool", pb.ToolRequest(tool_name="web_search")),
    ]
    for address, call, request in calls:
        assert grpc_code(address, call, request, None) == grpc.StatusCode.UNAUTHENTICATED
        assert grpc_code(address, call, request, "wrong") == grpc.StatusCode.UNAUTHENTICATED
        assert grpc_code(address, call, request, KEY) == grpc.StatusCode.OK, (address, call)
    sandbox_url = f"http://127.0.0.1:{ports.sandbox_http}"
    gateway_url = f"http://127.0.0.1:{ports.gateway_http}"
    routes = [
        ("GET", f"{memory.url}/memory/latest?session_id=x", None),
        ("POST", f"{memory.url}/memory/store", {"session_id": "x", "history": []}),
        ("GET", f"{memory.url}/openapi.json", None),
        ("POST", f"{sandbox_url}/execute-tool", {"tool_name": "web_search", "args": {}}),
        ("GET", f"{gateway_url}/api/v1/vector-test?query=otters", None),
    ]
    with httpx.Client(timeout=60) as client:
        for method, url, body in routes:
            assert client.request(method, url, json=body).status_code == 401, url
            assert client.request(method, url, json=body, headers=AUTH).status_code == 200, url
        for url in (memory.url, sandbox_url, gateway_url):
            assert client.get(f"{url}/health").status_code == 200
            assert client.get(f"{url}/metrics").status_code == 200


def test_a_run_streams_its_plan_across_the_keyed_link(keyed_stack: CoreStack) -> None:
    """Runs take plans over StreamPlan, a server-streaming call: it must carry the key too."""
    planner = keyed_stack.planner
    headers = planner.headers(Accept="text/event-stream")
    body = {"prompt": "Generate a 3-step plan to feed the otters", "session_id": "keyed-run"}
    with httpx.stream("POST", f"{planner.url}/plan", json=body, headers=headers, timeout=60) as r:
        assert r.status_code == 200
        events = [e for e in parse_stream(r.iter_lines()) if isinstance(e, SseEvent)]
    kinds = [e.event for e in events]
    assert "plan.delta" in kinds and kinds[-1] == "run.succeeded", kinds
    stream = pb.PlanRequest(prompt="hi")
    with grpc.insecure_channel(f"localhost:{keyed_stack.ports.gateway_grpc}") as channel:
        stub = pb_grpc.ModelGatewayStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            list(stub.StreamPlan(stream, timeout=60))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        chunks = list(stub.StreamPlan(stream, metadata=list(AUTH_METADATA.items()), timeout=60))
        assert chunks[-1].plan


def test_a_streaming_call_needs_the_key_too(keyed_stack: CoreStack) -> None:
    request = pb.PlanRequest(prompt="Plan a picnic")
    with grpc.insecure_channel(f"localhost:{keyed_stack.ports.gateway_grpc}") as channel:
        stub = pb_grpc.ModelGatewayStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            list(stub.StreamPlan(request, timeout=30))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        chunks = list(stub.StreamPlan(request, metadata=[("authorization", f"Bearer {KEY}")]))
        assert chunks and chunks[-1].plan
