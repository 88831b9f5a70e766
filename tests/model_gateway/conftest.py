"""The model gateway started for real, plus a loopback OpenAI-compatible fake provider."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from tests.support.core_services import gateway_process
from tests.support.fake_openai import FakeOpenAI
from tests.support.handles import ServiceEndpoints
from tests.support.processes import ServiceProcess, free_port, http_ready

MODULE = "model_gateway"


@dataclass
class Gateway(ServiceEndpoints):
    process: ServiceProcess
    grpc_port: int
    http_port: int

    def plan(self, prompt: str, resources: list[pb.Resource] | None = None) -> pb.PlanResponse:
        with grpc.insecure_channel(self.address) as channel:
            stub = pb_grpc.ModelGatewayStub(channel)
            request = pb.PlanRequest(prompt=prompt, resources=resources or [])
            return stub.GetPlan(request, timeout=30)

    def plan_with_metadata(self, prompt: str) -> tuple[pb.PlanResponse, dict[str, str]]:
        """The reply and its trailing metadata."""
        with grpc.insecure_channel(self.address) as channel:
            stub = pb_grpc.ModelGatewayStub(channel)
            reply, call = stub.GetPlan.with_call(pb.PlanRequest(prompt=prompt), timeout=30)
            return reply, dict(call.trailing_metadata() or ())

    def stream(self, prompt: str) -> list[pb.PlanChunk]:
        with grpc.insecure_channel(self.address) as channel:
            stub = pb_grpc.ModelGatewayStub(channel)
            return list(stub.StreamPlan(pb.PlanRequest(prompt=prompt), timeout=30))

    def stream_error(self, prompt: str) -> tuple[list[pb.PlanChunk], grpc.RpcError]:
        """The chunks received before the stream failed, and the error."""
        received: list[pb.PlanChunk] = []
        with grpc.insecure_channel(self.address) as channel:
            stub = pb_grpc.ModelGatewayStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                for chunk in stub.StreamPlan(pb.PlanRequest(prompt=prompt), timeout=30):
                    received.append(chunk)
        return received, caught.value

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=10).text

    def plan_json(self, prompt: str, resources: list[pb.Resource] | None = None) -> Any:
        return json.loads(self.plan(prompt, resources).plan)

    def plan_error(self, prompt: str, resources: list[pb.Resource] | None = None) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as caught:
            self.plan(prompt, resources)
        return caught.value


def error_metadata(error: grpc.RpcError) -> dict[str, str]:
    return dict(error.trailing_metadata() or ())


def closed_port() -> int:
    """A port nothing listens on (memory "down")."""
    return free_port()


def gateway_service(workdir: Path, **env: str) -> Gateway:
    """A gateway (not yet started; mock provider unless LLM_PROVIDER is given) whose memory
    is down unless RAG_GRPC_ADDR is given, ready once its HTTP /health answers."""
    grpc_port, http_port = free_port(), free_port()
    process = gateway_process(workdir, grpc_port, http_port, closed_port(), **env)
    process.log_path = workdir / f"{MODULE}-{grpc_port}.log"
    process.ready = [http_ready(http_port)]  # gRPC may be mTLS-only in some tests
    return Gateway(process, grpc_port, http_port)


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def mock_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = gateway_service(tmp_path_factory.mktemp("gateway"))
    gateway.process.start(timeout=60)
    yield gateway
    gateway.process.stop()
