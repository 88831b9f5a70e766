"""GetPlan and StreamPlan on the model gateway, behind a circuit breaker and a per-call
deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import grpc

from services.agent_planner.breaker import CircuitBreaker
from services.agent_planner.errors import call_dependency
from services.agent_planner.validation import Resource
from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc

# Receives each text delta of a streamed plan and whether it voids the earlier ones.
DeltaHandler = Callable[[str, bool], Awaitable[None]]


class GatewayClient:
    def __init__(
        self, stub: pb_grpc.ModelGatewayStub, breaker: CircuitBreaker, timeout_seconds: float
    ) -> None:
        self.stub = stub
        self.breaker = breaker
        self.timeout_seconds = timeout_seconds

    async def get_plan(self, planner_input: str, resources: Sequence[Resource]) -> pb.PlanResponse:
        request = plan_request(planner_input, resources)

        async def call() -> pb.PlanResponse:
            started = asyncio.get_running_loop().time()
            try:
                return await self.stub.GetPlan(request, timeout=self.timeout_seconds)
            except grpc.aio.AioRpcError as exc:
                self._raise_if_own_deadline(exc, started)
                raise

        return await call_dependency("GetPlan", lambda: self.breaker.call(call))

    async def stream_plan(
        self, planner_input: str, resources: Sequence[Resource], on_delta: DeltaHandler
    ) -> pb.PlanResponse:
        """The plan GetPlan would give, with the model's text passed to on_delta as written."""
        request = plan_request(planner_input, resources)

        async def call() -> pb.PlanResponse:
            started = asyncio.get_running_loop().time()
            try:
                async for chunk in self.stub.StreamPlan(request, timeout=self.timeout_seconds):
                    if chunk.delta:  # the final chunk may carry the last delta too
                        await on_delta(chunk.delta, chunk.reset)
                    if chunk.plan:
                        return pb.PlanResponse(
                            plan=chunk.plan,
                            model_name=chunk.model_name,
                            latency_ms=chunk.latency_ms,
                        )
            except grpc.aio.AioRpcError as exc:
                self._raise_if_own_deadline(exc, started)
                raise
            raise ConnectionError("the stream ended without a plan")

        return await call_dependency("StreamPlan", lambda: self.breaker.call(call))

    def _raise_if_own_deadline(self, exc: grpc.aio.AioRpcError, started: float) -> None:
        """A TimeoutError when exc is the planner's own deadline: even if the gateway's answer
        about its provider raced it in, no answer in time counts against the gateway process."""
        waited = asyncio.get_running_loop().time() - started
        if exc.code() is grpc.StatusCode.DEADLINE_EXCEEDED and waited >= self.timeout_seconds:
            raise TimeoutError(
                f"DEADLINE_EXCEEDED: no plan within the planner's {self.timeout_seconds:g}s "
                "deadline"
            ) from exc


def plan_request(planner_input: str, resources: Sequence[Resource]) -> pb.PlanRequest:
    return pb.PlanRequest(
        prompt=planner_input, resources=[pb.Resource(type=r.type, uri=r.uri) for r in resources]
    )
