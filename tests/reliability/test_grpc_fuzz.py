"""Malformed, random and oversized messages against every gRPC server (memory, gateway,
sandbox) over a raw channel: each gets a clean status and the servers stay healthy."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from tests.reliability.service_health import assert_stack_healthy, grpc_ports
from tests.support.core_services import CoreStack

pytestmark = pytest.mark.reliability

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
GET_PLAN = "/modelgateway.ModelGateway/GetPlan"
GET_RAG = "/modelgateway.ModelGateway/GetRAGContext"
EXECUTE_TOOL = "/modelgateway.ToolService/ExecuteTool"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
METHODS = [
    ("memory", GET_RAG),
    ("memory", GET_PLAN),
    ("memory", HEALTH_CHECK),
    ("gateway", GET_PLAN),
    ("gateway", GET_RAG),
    ("gateway", HEALTH_CHECK),
    ("sandbox", EXECUTE_TOOL),
    ("sandbox", HEALTH_CHECK),
]
# Each of these is invalid protobuf for every message type (all start with field 1).
MALFORMED = {
    "invalid wire type": b"\xff",
    "length past the end": b"\x0a\x05ab",
    "string with bad UTF-8": b"\x0a\x02\xff\xfe",
    "varint longer than 10 bytes": b"\x10" + b"\xff" * 11,
    "length of 4 GiB": b"\x0a\x80\x80\x80\x80\x10",
    "unterminated group": b"\x0b",
    "field number 0": b"\x00\x00",
}
# Statuses a well-behaved server may answer to input it could parse; UNKNOWN (an
# unhandled exception) and INTERNAL are never acceptable.
CLEAN = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
UNIMPLEMENTED_BY_DESIGN = {("memory", GET_PLAN)}  # memory serves only GetRAGContext
Caller = Callable[[str, str, bytes], grpc.StatusCode]


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            return bytes([*out, low])
        out.append(low | 0x80)


def string_field_1(size: int) -> bytes:
    """A message whose field 1 (prompt / query / tool_name) holds size bytes."""
    return b"\x0a" + encode_varint(size) + b"a" * size


@pytest.fixture(scope="module")
def call_raw(reliability_stack: CoreStack) -> Iterator[Caller]:
    """Send bytes as the request of (server, method); return the status code."""
    ports = grpc_ports(reliability_stack)
    options = [("grpc.max_receive_message_length", 4 * MAX_MESSAGE_BYTES)]
    channels = {
        name: grpc.insecure_channel(f"localhost:{port}", options=options)
        for name, port in ports.items()
    }

    def call(server: str, method: str, payload: bytes) -> grpc.StatusCode:
        send = channels[server].unary_unary(
            method, request_serializer=bytes, response_deserializer=bytes
        )
        try:
            send(payload, timeout=30)
        except grpc.RpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK

    yield call
    for channel in channels.values():
        channel.close()


def allowed_statuses(server: str, method: str) -> set[grpc.StatusCode]:
    if (server, method) in UNIMPLEMENTED_BY_DESIGN:
        return CLEAN | {grpc.StatusCode.UNIMPLEMENTED}
    if method == HEALTH_CHECK:  # the health protocol's answer for an unknown service name
        return CLEAN | {grpc.StatusCode.NOT_FOUND}
    return CLEAN


@pytest.mark.parametrize(("server", "method"), METHODS)
def test_malformed_protobuf_answers_invalid_argument(
    call_raw: Caller, server: str, method: str
) -> None:
    answers = {case: call_raw(server, method, payload) for case, payload in MALFORMED.items()}
    wrong = {
        case: code for case, code in answers.items() if code != grpc.StatusCode.INVALID_ARGUMENT
    }
    assert not wrong, f"{server} {method}: {wrong}"


@pytest.mark.parametrize(("server", "method"), METHODS)
def test_message_over_the_cap_is_resource_exhausted(
    call_raw: Caller, server: str, method: str
) -> None:
    code = call_raw(server, method, string_field_1(MAX_MESSAGE_BYTES + 1))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize(("server", "method"), METHODS)
def test_message_just_under_the_cap_gets_a_clean_status(
    call_raw: Caller, server: str, method: str
) -> None:
    code = call_raw(server, method, string_field_1(MAX_MESSAGE_BYTES - 64))
    assert code in allowed_statuses(server, method)


@pytest.mark.parametrize(("server", "method"), METHODS)
def test_random_bytes_get_a_clean_status(call_raw: Caller, server: str, method: str) -> None:
    @settings(
        max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(payload=st.binary(max_size=256))
    def check(payload: bytes) -> None:
        code = call_raw(server, method, payload)
        assert code in allowed_statuses(server, method), f"{payload!r} -> {code}"

    check()


texts = st.text(max_size=300)
int32s = st.integers(min_value=-(2**31), max_value=2**31 - 1)
plan_requests = st.builds(
    pb.PlanRequest,
    prompt=texts,
    resources=st.lists(st.builds(pb.Resource, type=texts, uri=texts), max_size=4),
)
rag_requests = st.builds(
    pb.RAGContextRequest,
    query=texts,
    top_k=int32s,
    knowledge_bases=st.lists(texts, max_size=5),
    namespace=texts,
)
# JSON that decodes, but past the depth limit or with numbers that are not finite.
hostile_json = st.one_of(
    st.integers(min_value=65, max_value=5000).map(lambda d: '{"q": ' + "[" * d + "]" * d + "}"),
    st.sampled_from(['{"q": NaN}', '{"q": -Infinity}', '{"q": 1e999}']),
)
tool_requests = st.builds(
    pb.ToolRequest,
    tool_name=st.one_of(texts, st.sampled_from(["web_search", "weather_tool", "nope"])),
    args_json=st.one_of(texts, st.just("{}"), st.just('{"query": 1}'), st.just("[]"), hostile_json),
    execution_environment=texts,
    cpu_limit_mhz=int32s,
    memory_limit_mb=int32s,
    timeout_seconds=st.integers(min_value=-5, max_value=3),
)
STRUCTURED = [
    ("memory", GET_RAG, rag_requests),
    ("gateway", GET_PLAN, plan_requests),
    ("gateway", GET_RAG, rag_requests),
    ("sandbox", EXECUTE_TOOL, tool_requests),
]


@pytest.mark.parametrize(("server", "method", "requests"), STRUCTURED)
def test_well_formed_requests_with_odd_values_get_a_clean_status(
    call_raw: Caller, server: str, method: str, requests: st.SearchStrategy[object]
) -> None:
    @settings(
        max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(request=requests)
    def check(request: object) -> None:
        payload = request.SerializeToString()  # type: ignore[attr-defined]
        code = call_raw(server, method, payload)
        assert code in allowed_statuses(server, method), f"{request!r} -> {code}"

    check()


def test_servers_still_serve_real_requests_after_the_fuzzing(
    reliability_stack: CoreStack,
) -> None:
    assert_stack_healthy(reliability_stack, timeout=5)
    ports = grpc_ports(reliability_stack)
    with grpc.insecure_channel(f"localhost:{ports['gateway']}") as channel:
        plan = pb_grpc.ModelGatewayStub(channel).GetPlan(pb.PlanRequest(prompt="hi"), timeout=10)
        assert plan.model_name == "mock"
    with grpc.insecure_channel(f"localhost:{ports['memory']}") as channel:
        request = pb.RAGContextRequest(query="hello", top_k=1, knowledge_bases=["Soul-KB"])
        pb_grpc.ModelGatewayStub(channel).GetRAGContext(request, timeout=10)
    with grpc.insecure_channel(f"localhost:{ports['sandbox']}") as channel:
        tool = pb.ToolRequest(tool_name="weather_tool", args_json='{"city": "Oslo"}')
        reply = pb_grpc.ToolServiceStub(channel).ExecuteTool(tool, timeout=30)
        assert "Oslo" in reply.stdout


@pytest.mark.parametrize(
    "args_json",
    ['{"q": ' + "[" * 900 + "]" * 900 + "}", "[" * 100_000, '{"q": NaN}', '{"q": 1e999}'],
)
def test_hostile_args_json_is_invalid_argument(call_raw: Caller, args_json: str) -> None:
    request = pb.ToolRequest(tool_name="web_search", args_json=args_json)
    code = call_raw("sandbox", EXECUTE_TOOL, request.SerializeToString())
    assert code == grpc.StatusCode.INVALID_ARGUMENT
