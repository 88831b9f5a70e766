"""GetPlan on the model gateway over gRPC."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc


@dataclass(frozen=True)
class GatewayPlan:
    plan: str
    model_name: str
    latency_ms: int


class GatewayError(Exception):
    """GetPlan failed (gateway down, deadline exceeded, provider error); the message says how."""


class GatewayClient:
    def __init__(self, stub: pb_grpc.ModelGatewayStub, timeout: float) -> None:
        self._stub = stub
        self._timeout = timeout

    async def get_plan(self, prompt: str) -> GatewayPlan:
        try:
            reply = await self._stub.GetPlan(pb.PlanRequest(prompt=prompt), timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            raise GatewayError(f"GetPlan failed: {exc.code().name}: {exc.details()}") from None
        return GatewayPlan(reply.plan, reply.model_name, reply.latency_ms)
