"""The ModelGateway gRPC servicer: GetPlan through the configured planner, GetRAGContext
proxied to memory. Domain errors become gRPC status codes here and nowhere else."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import NoReturn

import grpc

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.logs import get_logger
from services.model_gateway.errors import InvalidPlanRequest, UpstreamError, UpstreamRejected
from services.model_gateway.metrics import PLAN_CALLS, PLAN_LATENCY
from services.model_gateway.providers import Planner
from services.model_gateway.rag import MemoryRag

log = get_logger("model_gateway")
MAX_RESOURCES = 64
MAX_PROMPT_CHARS = 1_000_000  # the plan echoes the prompt and must fit a 4 MiB gRPC message
PERMISSION_STATUSES = (401, 403)


class GatewayServicer(pb_grpc.ModelGatewayServicer):
    def __init__(self, planner: Planner, memory: MemoryRag, timeout_seconds: float) -> None:
        self._planner = planner
        self._memory = memory
        self._timeout = timeout_seconds

    async def GetPlan(
        self, request: pb.PlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.PlanResponse:
        started = time.perf_counter()
        budget = _budget(self._timeout, context)
        outcome = "error"  # an unexpected exception or a cancelled call
        try:
            plan = await self._bounded_plan(request, budget)
            outcome = "success"
        except (InvalidPlanRequest, TimeoutError, UpstreamError) as exc:
            code, message = plan_error_status(exc, self._planner.name, budget)
            outcome = code.name.lower()
            log.warning("plan_failed", code=code.name, error=message)
            await _abort(context, code, message)
        finally:
            self._observe(outcome, started)
        latency_ms = round((time.perf_counter() - started) * 1000)
        return pb.PlanResponse(plan=plan, model_name=self._planner.model, latency_ms=latency_ms)

    async def _bounded_plan(self, request: pb.PlanRequest, budget: float) -> str:
        check_plan_request(request)
        self._log_request(request)
        async with asyncio.timeout(budget):
            deadline = asyncio.get_running_loop().time() + budget
            return await self._planner.plan(request.prompt, request.resources, deadline)

    async def GetRAGContext(
        self, request: pb.RAGContextRequest, context: grpc.aio.ServicerContext
    ) -> pb.RAGContextResponse:
        try:
            return await self._memory.context(request, _budget(self._timeout, context))
        except grpc.aio.AioRpcError as exc:
            await _abort(context, exc.code(), f"memory: {exc.details() or exc.code().name}")

    def _log_request(self, request: pb.PlanRequest) -> None:
        log.info(
            "plan_request",
            provider=self._planner.name,
            model=self._planner.model,
            prompt_chars=len(request.prompt),
            resource_count=len(request.resources),
            resource_types=sorted({r.type for r in request.resources}),
        )

    def _observe(self, outcome: str, started: float) -> None:
        PLAN_CALLS.labels(self._planner.name, outcome).inc()
        PLAN_LATENCY.labels(self._planner.name).observe(time.perf_counter() - started)


def check_plan_request(request: pb.PlanRequest) -> None:
    if not request.prompt.strip():
        raise InvalidPlanRequest("prompt is required")
    if len(request.prompt) > MAX_PROMPT_CHARS:
        raise InvalidPlanRequest(
            f"prompt too long: {len(request.prompt)} characters (limit {MAX_PROMPT_CHARS})"
        )
    check_resources(request.resources)


def check_resources(resources: Sequence[pb.Resource]) -> None:
    if len(resources) > MAX_RESOURCES:
        raise InvalidPlanRequest(f"too many resources: {len(resources)} (limit {MAX_RESOURCES})")
    for index, resource in enumerate(resources):
        if not resource.type.strip() or not resource.uri.strip():
            raise InvalidPlanRequest(f"resources[{index}] must include non-empty type and uri")


def plan_error_status(
    exc: InvalidPlanRequest | TimeoutError | UpstreamError, provider: str, budget: float
) -> tuple[grpc.StatusCode, str]:
    """The gRPC status and message for a GetPlan failure."""
    if isinstance(exc, InvalidPlanRequest):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED, f"{provider} gave no plan within {budget:g}s"
    if isinstance(exc, UpstreamRejected):
        if exc.status in PERMISSION_STATUSES:
            return grpc.StatusCode.PERMISSION_DENIED, str(exc)
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    return grpc.StatusCode.UNAVAILABLE, str(exc)


def _budget(timeout: float, context: grpc.aio.ServicerContext) -> float:
    """REQUEST_TIMEOUT_SECONDS, or less when the caller's own deadline is nearer."""
    remaining = context.time_remaining()
    return timeout if remaining is None else max(0.0, min(timeout, remaining))


async def _abort(
    context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str
) -> NoReturn:
    await context.abort(code, message)
    raise AssertionError("context.abort returned")
