"""The ModelGateway gRPC servicer: GetPlan and StreamPlan through the configured planner,
GetRAGContext proxied to memory; GetPlanContext is memory's alone and refused here, naming
it. Failures become statuses in status.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import NoReturn

import grpc

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.grpc_server import refuse_served_elsewhere
from services.kit.logs import get_logger
from services.model_gateway.chain import ChainReport, StreamSink
from services.model_gateway.errors import InvalidPlanRequest, UpstreamError
from services.model_gateway.providers import Planner
from services.model_gateway.rag import MemoryRag
from services.model_gateway.redaction import Redactor
from services.model_gateway.reporting import Reporter, figures, trailing_metadata
from services.model_gateway.status import PlanFailure, plan_failure
from services.model_gateway.streaming import ChunkSink

log = get_logger("model_gateway")
MAX_RESOURCES = 64
MAX_PROMPT_CHARS = 1_000_000  # the plan echoes the prompt and must fit a 4 MiB gRPC message


class GatewayServicer(pb_grpc.ModelGatewayServicer):
    def __init__(
        self,
        planner: Planner,
        memory: MemoryRag,
        timeout_seconds: float,
        redact: Redactor,
        reporter: Reporter,
    ) -> None:
        self._planner = planner
        self._memory = memory
        self._timeout = timeout_seconds
        self._redact = redact
        self._reporter = reporter

    async def GetPlan(
        self, request: pb.PlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.PlanResponse:
        started = time.perf_counter()
        report = ChainReport()
        plan = await self._answer(request, context, report, started, None)
        latency_ms = round((time.perf_counter() - started) * 1000)
        return pb.PlanResponse(plan=plan, model_name=report.model, latency_ms=latency_ms)

    async def StreamPlan(
        self, request: pb.PlanRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.PlanChunk]:
        started = time.perf_counter()
        report = ChainReport()
        sink = ChunkSink(self._redact)
        async for chunk in sink.chunks(self._answer(request, context, report, started, sink)):
            yield chunk
        last = sink.last or pb.PlanChunk()
        yield pb.PlanChunk(
            delta=last.delta,
            reset=last.reset,
            plan=sink.plan,
            model_name=report.model,
            provider=report.provider,
            latency_ms=round((time.perf_counter() - started) * 1000),
            prompt_tokens=report.usage.prompt_tokens,
            completion_tokens=report.usage.completion_tokens,
        )

    async def _answer(
        self,
        request: pb.PlanRequest,
        context: grpc.aio.ServicerContext,
        report: ChainReport,
        started: float,
        sink: StreamSink | None,
    ) -> str:
        """The plan, with its report in trailing metadata, logs and metrics; on failure the
        call is aborted with the status of status.py."""
        budget = _budget(self._timeout, context)
        outcome = "error"  # an unexpected exception
        failure: PlanFailure | None = None
        try:
            plan = await self._bounded_plan(request, budget, report, sink)
            outcome = "success"
        except (InvalidPlanRequest, TimeoutError, UpstreamError) as exc:
            failure = plan_failure(exc, self._planner.name, budget, self._redact)
            outcome = failure.code.name.lower()
        except asyncio.CancelledError:
            outcome = "cancelled"  # the caller went away; the provider call is dropped with it
            raise
        finally:
            call = figures(report, time.perf_counter() - started)
            self._reporter.record(request, report, outcome, call)
        metadata = trailing_metadata(report, call)
        if failure is not None:
            log.warning("plan_failed", code=failure.code.name, error=failure.message)
            await _abort(context, failure, metadata)
        context.set_trailing_metadata(metadata)
        return plan

    async def _bounded_plan(
        self,
        request: pb.PlanRequest,
        budget: float,
        report: ChainReport,
        sink: StreamSink | None,
    ) -> str:
        check_plan_request(request)
        deadline = asyncio.get_running_loop().time() + budget
        if not self._planner.waits:
            return await self._planner.plan(
                request.prompt, request.resources, deadline, report, sink
            )
        async with asyncio.timeout(budget):
            return await self._planner.plan(
                request.prompt, request.resources, deadline, report, sink
            )

    async def GetRAGContext(
        self, request: pb.RAGContextRequest, context: grpc.aio.ServicerContext
    ) -> pb.RAGContextResponse:
        try:
            return await self._memory.context(request, _budget(self._timeout, context))
        except grpc.aio.AioRpcError as exc:
            message = f"memory: {exc.details() or exc.code().name}"
            await _abort(context, PlanFailure(exc.code(), message, False), ())

    async def GetPlanContext(
        self, request: pb.PlanContextRequest, context: grpc.aio.ServicerContext
    ) -> pb.PlanContextResponse:
        await refuse_served_elsewhere(
            context, "GetPlanContext", "the model gateway", "the memory service"
        )


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


def _budget(timeout: float, context: grpc.aio.ServicerContext) -> float:
    """REQUEST_TIMEOUT_SECONDS, or less when the caller's own deadline is nearer."""
    remaining = context.time_remaining()
    return timeout if remaining is None else max(0.0, min(timeout, remaining))


async def _abort(
    context: grpc.aio.ServicerContext,
    failure: PlanFailure,
    metadata: tuple[tuple[str, str], ...],
) -> NoReturn:
    await context.abort(failure.code, failure.message, (*metadata, *failure.metadata))
    raise AssertionError("context.abort returned")
