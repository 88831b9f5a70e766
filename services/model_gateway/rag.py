"""The gateway's client of memory's GetRAGContext and gRPC health (one channel per process)."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.knowledge_bases import PREAMBLE_KNOWLEDGE_BASES
from services.kit.logs import get_logger
from services.kit.metrics import child
from services.model_gateway.metrics import RAG_LOOKUPS

log = get_logger("rag")
PREAMBLE_TOP_K = 3
MAX_QUERY_CHARS = 4000
HEALTH_TIMEOUT_SECONDS = 2.0


class MemoryRag:
    def __init__(self, channel: grpc.aio.Channel, address: str) -> None:
        self.address = address
        self._stub = pb_grpc.ModelGatewayStub(channel)
        self._health = health_pb2_grpc.HealthStub(channel)

    async def context(self, request: pb.RAGContextRequest, timeout: float) -> pb.RAGContextResponse:
        """Memory's answer to request; raises grpc.aio.AioRpcError on failure."""
        return await self._stub.GetRAGContext(request, timeout=timeout)

    async def preamble_matches(self, query: str, timeout: float) -> list[pb.RAGMatch]:
        """Matches for the model prompt; any failure is logged and yields no matches."""
        request = pb.RAGContextRequest(
            query=query[:MAX_QUERY_CHARS],
            top_k=PREAMBLE_TOP_K,
            knowledge_bases=list(PREAMBLE_KNOWLEDGE_BASES),
        )
        try:
            reply = await self.context(request, timeout)
        except grpc.aio.AioRpcError as exc:
            child(RAG_LOOKUPS, "unavailable").inc()
            log.warning(
                "rag_context_unavailable",
                address=self.address,
                code=exc.code().name,
                error=exc.details() or "",
            )
            return []
        child(RAG_LOOKUPS, "matches" if reply.matches else "empty").inc()
        log.info("rag_context", matches=len(reply.matches))
        return list(reply.matches)

    async def serving(self) -> bool:
        """Whether memory's gRPC health answers SERVING."""
        try:
            reply = await self._health.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=HEALTH_TIMEOUT_SECONDS
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("memory_health_failed", address=self.address, code=exc.code().name)
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
