"""The gateway's gRPC surface through the real grpcurl: reflection, health, GetPlan without
.proto files, trace ids, the memory proxy when memory is down, and mTLS."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.grpc_client import open_channel
from services.kit.trace import bind_trace_id
from tests.model_gateway.conftest import Gateway, gateway_service
from tests.support.certs import ca_only_credentials, client_credentials, server_tls_env
from tests.support.grpcurl import grpcurl, grpcurl_json, grpcurl_refused
from tests.support.logs import log_events, logged, settled_events


def test_reflection_lists_and_describes_the_services(mock_gateway: Gateway) -> None:
    listed = grpcurl("-plaintext", mock_gateway.address, "list")
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) >= {
        "modelgateway.ModelGateway",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    described = grpcurl("-plaintext", mock_gateway.address, "describe", "modelgateway.ModelGateway")
    assert described.returncode == 0, described.stderr
    assert "rpc GetPlan" in described.stdout
    assert "rpc GetRAGContext" in described.stdout


def test_get_plan_without_proto_files(mock_gateway: Gateway) -> None:
    reply = grpcurl_json(
        mock_gateway.address, "modelgateway.ModelGateway/GetPlan", {"prompt": "hi"}
    )
    assert reply["model_name"] == "mock"
    assert json.loads(reply["plan"])["steps"][0].startswith("Restate the objective")


def test_health_is_serving_in_mock_mode(mock_gateway: Gateway) -> None:
    for service in ("", "modelgateway.ModelGateway"):
        reply = grpcurl_json(
            mock_gateway.address, "grpc.health.v1.Health/Check", {"service": service}
        )
        assert reply["status"] == "SERVING"


def test_caller_trace_id_is_logged(mock_gateway: Gateway) -> None:
    grpcurl_json(
        mock_gateway.address,
        "modelgateway.ModelGateway/GetPlan",
        {"prompt": "trace me"},
        "-H",
        "x-trace-id: gateway-trace-42",
    )
    lines = logged(mock_gateway.process, "plan_request", trace_id="gateway-trace-42")
    # One line for the call: the plan's fields with the kit's method, code and latency.
    assert [(e["event"], e["method"], e["code"]) for e in lines] == [
        ("plan_request", "/modelgateway.ModelGateway/GetPlan", "OK")
    ]
    assert lines[0]["latency_ms"] >= 0 and lines[0]["outcome"] == "success"


def test_stream_plan_is_observed_like_a_unary_call(mock_gateway: Gateway) -> None:
    """The kit's interceptor binds the caller's trace id for the whole stream, and counts and
    logs the call once, with its final code."""
    result = grpcurl(
        "-plaintext",
        "-H",
        "x-trace-id: stream-trace-7",
        "-d",
        json.dumps({"prompt": "Plan a picnic"}),
        mock_gateway.address,
        "modelgateway.ModelGateway/StreamPlan",
    )
    assert result.returncode == 0, result.stderr
    calls = logged(mock_gateway.process, "plan_request", trace_id="stream-trace-7")
    assert [(c["event"], c["method"], c["code"]) for c in calls] == [
        ("plan_request", "/modelgateway.ModelGateway/StreamPlan", "OK")
    ]
    bad = grpcurl(
        "-plaintext",
        "-d",
        json.dumps({"prompt": " "}),
        mock_gateway.address,
        "modelgateway.ModelGateway/StreamPlan",
    )
    assert bad.returncode != 0
    assert "InvalidArgument" in bad.stderr and "prompt is required" in bad.stderr


def test_rag_proxy_reports_memory_down(mock_gateway: Gateway) -> None:
    result = grpcurl(
        "-plaintext",
        "-d",
        json.dumps({"query": "x", "top_k": 1}),
        mock_gateway.address,
        "modelgateway.ModelGateway/GetRAGContext",
    )
    assert result.returncode != 0
    assert "Unavailable" in result.stderr
    assert "memory:" in result.stderr


def test_get_plan_context_is_memorys_and_refused_naming_it(mock_gateway: Gateway) -> None:
    body = {"rag": {"query": "x"}, "session_id": "s"}
    error = grpcurl_refused(mock_gateway.address, "modelgateway.ModelGateway/GetPlanContext", body)
    assert "Unimplemented" in error
    assert "not served by the model gateway; call the memory service instead" in error


@pytest.fixture(scope="module")
def tls_gateway(certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = gateway_service(
        tmp_path_factory.mktemp("tls-gateway"),
        **server_tls_env(certs),
    )
    gateway.process.start(timeout=60)
    yield gateway
    gateway.process.stop()


def tls_plan(gateway: Gateway, credentials: grpc.ChannelCredentials | None) -> pb.PlanResponse:
    channel = (
        grpc.secure_channel(gateway.address, credentials)
        if credentials
        else grpc.insecure_channel(gateway.address)
    )
    with channel:
        return pb_grpc.ModelGatewayStub(channel).GetPlan(pb.PlanRequest(prompt="tls"), timeout=5)


def test_mtls_accepts_a_client_certificate(tls_gateway: Gateway, certs: Path) -> None:
    assert tls_plan(tls_gateway, client_credentials(certs)).model_name == "mock"
    flags = ["-cacert", str(certs / "ca.crt"), "-cert", str(certs / "client.crt")]
    health = grpcurl(
        *flags,
        "-key",
        str(certs / "client.key"),
        tls_gateway.address,
        "grpc.health.v1.Health/Check",
    )
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout)["status"] == "SERVING"


def test_mtls_rejects_clients_without_a_certificate(tls_gateway: Gateway, certs: Path) -> None:
    no_cert = ca_only_credentials(certs)
    with pytest.raises(grpc.RpcError) as caught:
        tls_plan(tls_gateway, no_cert)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.RpcError):
        tls_plan(tls_gateway, None)
    refused = grpcurl(
        "-connect-timeout", "2", "-cacert", str(certs / "ca.crt"), tls_gateway.address, "list"
    )
    assert refused.returncode != 0
    assert log_events(tls_gateway.process, "grpc_listening")[-1]["tls"] is True


def test_a_kit_channel_carries_the_trace_id_on_streams(mock_gateway: Gateway) -> None:
    async def stream_with_trace() -> None:
        channel = open_channel(mock_gateway.address, None)
        bind_trace_id("stream-client-trace-3")
        stub = pb_grpc.ModelGatewayStub(channel)
        async for _ in stub.StreamPlan(pb.PlanRequest(prompt="hi"), timeout=30):
            pass
        await channel.close()

    asyncio.run(stream_with_trace())
    trace = "stream-client-trace-3"
    calls = settled_events(mock_gateway.process, "plan_request", 1, trace_id=trace)
    assert [c["method"] for c in calls] == ["/modelgateway.ModelGateway/StreamPlan"]
