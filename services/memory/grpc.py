"""gRPC `modelgateway.ModelGateway` as served by memory: GetRAGContext, and GetPlanContext
(RAG context and the session's recent history in one round trip, each part failing alone);
GetPlan and StreamPlan belong to the model gateway and are refused here, naming it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

import grpc

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.grpc_server import MAX_MESSAGE_BYTES, refuse_served_elsewhere
from services.kit.logs import get_logger
from services.memory.errors import DependencyUnavailable, InvalidRequest
from services.memory.knowledge import RagMatch
from services.memory.retrieval import RagQuery, Retriever
from services.memory.store import MAX_HISTORY_LIMIT, SessionStore

log = get_logger("memory.grpc")
HERE, THERE = "the memory service", "the model gateway"  # for the gateway's own calls
# Room left for the matches in a reply that must stay under the gRPC message limit.
HISTORY_BYTES = MAX_MESSAGE_BYTES - 512 * 1024


class MemoryRagServicer(pb_grpc.ModelGatewayServicer):
    def __init__(self, retriever: Retriever, store: SessionStore) -> None:
        self._retriever = retriever
        self._store = store

    async def GetRAGContext(
        self, request: pb.RAGContextRequest, context: grpc.aio.ServicerContext
    ) -> pb.RAGContextResponse:
        try:
            matches = await self._retriever.context(rag_query(request))
        except InvalidRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except DependencyUnavailable as exc:
            log.warning("rag_dependency_unavailable", error=str(exc))
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"dependency unavailable: {exc}")
        return pb.RAGContextResponse(matches=wire_matches(matches))

    async def GetPlanContext(
        self, request: pb.PlanContextRequest, context: grpc.aio.ServicerContext
    ) -> pb.PlanContextResponse:
        limit = request.history_limit
        if not 0 <= limit <= MAX_HISTORY_LIMIT:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"history_limit: must be 0 (all) to {MAX_HISTORY_LIMIT}, not {limit}",
            )
        reply = pb.PlanContextResponse()
        # The search first: its embedding then runs in its thread while history is read.
        rag = asyncio.ensure_future(self._retriever.context(rag_query(request.rag)))
        try:
            await self._read_history(request.session_id, limit, reply)
            reply.matches.extend(wire_matches(await rag))
        except InvalidRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"rag.{exc}")
        except DependencyUnavailable as exc:
            log.warning("rag_dependency_unavailable", error=str(exc))
            reply.rag_error = f"dependency unavailable: {exc}"
        finally:
            rag.cancel()  # only if history failed in a way nobody expected
        return reply

    async def _read_history(
        self, session_id: str, limit: int, reply: pb.PlanContextResponse
    ) -> None:
        try:
            reply.session_id, messages = await self._store.latest(session_id, limit or None)
        except DependencyUnavailable as exc:
            log.warning("history_dependency_unavailable", error=str(exc))
            reply.history_error = f"dependency unavailable: {exc}"
            return
        reply.history.extend(pb.HistoryMessage(role=m.role, content=m.content) for m in messages)
        size = reply.ByteSize()
        if size > HISTORY_BYTES:
            del reply.history[:]
            reply.history_error = (
                f"history too large for one reply: {len(messages)} messages,"
                f" {size} bytes (limit {HISTORY_BYTES}); read it with GET /memory/latest"
            )

    async def GetPlan(
        self, request: pb.PlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.PlanResponse:
        await refuse_served_elsewhere(context, "GetPlan", HERE, THERE)

    async def StreamPlan(
        self, request: pb.PlanRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.PlanChunk]:
        await refuse_served_elsewhere(context, "StreamPlan", HERE, THERE)
        yield pb.PlanChunk()  # never reached: makes this a stream handler


def rag_query(request: pb.RAGContextRequest) -> RagQuery:
    return RagQuery(
        query=request.query,
        top_k=request.top_k,
        knowledge_bases=tuple(request.knowledge_bases),
        namespace=request.namespace,
    )


def wire_matches(matches: Iterable[RagMatch]) -> list[pb.RAGMatch]:
    return [
        pb.RAGMatch(
            id=m.id,
            text=m.text,
            distance=m.distance,
            knowledge_base=m.knowledge_base,
            source=m.source,
        )
        for m in matches
    ]
