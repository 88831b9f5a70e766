"""GetPlan on the model gateway, behind a circuit breaker and a per-call deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc

from services.agent_planner.breaker import CircuitBreaker
from services.agent_planner.errors import call_dependency
from services.agent_planner.validation import Resource
from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc


class GatewayClient:
    def __init__(
        self, stub: pb_grpc.ModelGatewayStub, breaker: CircuitBreaker, timeout_seconds: float
    ) -> None:
        self.stub = stub
        self.breaker = breaker
        self.timeout_seconds = timeout_seconds

    async def get_plan(self, planner_input: str, resources: Sequence[Resource]) -> pb.PlanResponse:
        request = pb.PlanRequest(
            prompt=planner_input,
            resources=[pb.Resource(type=r.type, uri=r.uri) for r in resources],
        )

        async def call() -> pb.PlanResponse:
            started = asyncio.get_running_loop().time()
            try:
                return await self.stub.GetPlan(request, timeout=self.timeout_seconds)
            except grpc.aio.AioRpcError as exc:
                waited = asyncio.get_running_loop().time() - started
                if (
                    exc.code() is grpc.StatusCode.DEADLINE_EXCEEDED
                    and waited >= self.timeout_seconds
                ):
                    # Our own deadline, even if the gateway's answer about its provider
                    # raced it in: no answer in time counts against the gateway process.
                    raise TimeoutError(
                        f"DEADLINE_EXCEEDED: no plan within the planner's "
                        f"{self.timeout_seconds:g}s deadline"
                    ) from exc
                raise

        return await call_dependency("GetPlan", lambda: self.breaker.call(call))
