"""The model gateway started for real, plus a loopback OpenAI-compatible fake provider."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from tests.support.fake_openai import FakeOpenAI
from tests.support.processes import ServiceProcess, base_env, free_port, http_ready

MODULE = "model_gateway"


@dataclass
class Gateway:
    process: ServiceProcess
    grpc_port: int
    http_port: int

    @property
    def address(self) -> str:
        return f"localhost:{self.grpc_port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

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


def gateway_process(workdir: Path, **env: str) -> Gateway:
    """`python -m services.model_gateway`, ready once its HTTP /health answers."""
    grpc_port, http_port = free_port(), free_port()
    variables = {
        "MODEL_GATEWAY_GRPC_PORT": str(grpc_port),
        "MODEL_GATEWAY_HTTP_PORT": str(http_port),
        "RAG_GRPC_ADDR": f"127.0.0.1:{closed_port()}",
        **env,
    }
    process = ServiceProcess(
        name=MODULE,
        argv=[sys.executable, "-m", f"services.{MODULE}"],
        env=base_env(**variables),
        cwd=workdir,
        log_path=workdir / f"{MODULE}-{grpc_port}.log",
        ready=[http_ready(http_port)],
    )
    return Gateway(process, grpc_port, http_port)


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def mock_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = gateway_process(tmp_path_factory.mktemp("gateway"))
    gateway.process.start(timeout=60)
    yield gateway
    gateway.process.stop()
