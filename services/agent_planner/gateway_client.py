"""GetPlan on the model gateway, behind a circuit breaker and a per-call deadline."""

from __future__ import annotations

from collections.abc import Sequence

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
            return await self.stub.GetPlan(request, timeout=self.timeout_seconds)

        return await call_dependency("GetPlan", lambda: self.breaker.call(call))
