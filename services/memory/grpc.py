"""gRPC `modelgateway.ModelGateway` as served by memory: GetRAGContext; GetPlan belongs to
the model gateway and is refused here."""

from __future__ import annotations

import grpc

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.logs import get_logger
from services.memory.errors import DependencyUnavailable, InvalidRequest
from services.memory.retrieval import RagQuery, Retriever

log = get_logger("memory.grpc")


class MemoryRagServicer(pb_grpc.ModelGatewayServicer):
    def __init__(self, retriever: Retriever) -> None:
        self._retriever = retriever

    async def GetRAGContext(
        self, request: pb.RAGContextRequest, context: grpc.aio.ServicerContext
    ) -> pb.RAGContextResponse:
        query = RagQuery(
            query=request.query,
            top_k=request.top_k,
            knowledge_bases=tuple(request.knowledge_bases),
            namespace=request.namespace,
        )
        try:
            matches = await self._retriever.context(query)
        except InvalidRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except DependencyUnavailable as exc:
            log.warning("rag_dependency_unavailable", error=str(exc))
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"dependency unavailable: {exc}")
        return pb.RAGContextResponse(
            matches=[
                pb.RAGMatch(
                    id=m.id,
                    text=m.text,
                    distance=m.distance,
                    knowledge_base=m.knowledge_base,
                    source=m.source,
                )
                for m in matches
            ]
        )

    async def GetPlan(
        self, request: pb.PlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.PlanResponse:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "GetPlan is not served by the memory service; call the model gateway instead",
        )
        raise AssertionError("abort always raises")
