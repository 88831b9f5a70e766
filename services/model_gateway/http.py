"""The gateway's small HTTP API: /api/v1/vector-test (plus the kit's /health and /metrics).

GET /api/v1/vector-test?query=<q>&k=<n> asks memory for the k nearest knowledge-base
documents and lists them as {id, score, text, source, knowledge_base}, best first.
score = 1 / (1 + distance): 1.0 for an exact match, falling towards 0 as distance grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from services.contracts import modelgateway_pb2 as pb
from services.kit.http_app import create_app
from services.kit.knowledge_bases import PREAMBLE_KNOWLEDGE_BASES
from services.model_gateway.providers import Planner
from services.model_gateway.rag import MemoryRag

VECTOR_TEST_PATH = "/api/v1/vector-test"
DEFAULT_K = 2
MAX_K = 50


def create_gateway_app(
    planner: Planner, memory: MemoryRag, timeout_seconds: float, internal_key: str | None = None
) -> FastAPI:
    async def health() -> tuple[bool, dict[str, Any]]:
        # Liveness of this process; `ready` mirrors the gRPC health (provider + memory);
        # `chain` shows which providers are cooling down after repeated failures.
        ready = await planner.ready()
        chain = planner.chain_state()
        return True, {
            "provider": planner.name,
            "model": planner.model,
            "ready": ready,
            "chain": chain,
        }

    app = create_app("model_gateway", health=health, internal_key=internal_key)

    @app.get(VECTOR_TEST_PATH)
    async def vector_test(query: str | None = None, k: str | None = None) -> JSONResponse:
        if query is None or not query.strip():
            return _error(400, "missing required query param: query")
        top_k = parse_k(k)
        if top_k is None:
            return _error(400, f"invalid query param k: expected an integer from 1 to {MAX_K}")
        request = pb.RAGContextRequest(
            query=query, top_k=top_k, knowledge_bases=list(PREAMBLE_KNOWLEDGE_BASES)
        )
        try:
            reply = await memory.context(request, timeout_seconds)
        except grpc.aio.AioRpcError as exc:
            return _error(503, f"memory unavailable: {exc.details() or exc.code().name}")
        return JSONResponse(vector_results(reply.matches, top_k))

    @app.api_route(VECTOR_TEST_PATH, methods=["POST", "PUT", "PATCH", "DELETE"])
    async def vector_test_wrong_method() -> JSONResponse:
        response = _error(405, "method not allowed: use GET")
        response.headers["Allow"] = "GET"
        return response

    return app


def parse_k(raw: str | None) -> int | None:
    if raw is None:
        return DEFAULT_K
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 1 <= value <= MAX_K else None


def vector_results(matches: Sequence[pb.RAGMatch], k: int) -> list[dict[str, Any]]:
    """The k nearest matches over all knowledge bases, best (smallest distance) first."""
    nearest = sorted(matches, key=lambda m: m.distance)[:k]
    return [
        {
            "id": m.id,
            "score": 1.0 / (1.0 + max(m.distance, 0.0)),
            "text": m.text,
            "source": m.source,
            "knowledge_base": m.knowledge_base,
        }
        for m in nearest
    ]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
