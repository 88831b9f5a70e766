"""What the console shows that is not already a planner route: a session's history, the
RAG playground and document ingestion (memory), and the health of every service. These are
ordinary planner routes behind PAGI_API_KEY; the planner reaches the internal services with
its own credentials, so the browser never holds the internal key."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import aiohttp
import grpc
from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from services.agent_planner.run_state import LoopDependencies
from services.agent_planner.settings import PlannerSettings
from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.knowledge_bases import STANDARD_KNOWLEDGE_BASES

CHECK_SECONDS = 2.0
HISTORY_LIMIT = 500
NOTIFICATIONS_SHOWN = 10


class KnowledgeQuery(BaseModel):
    query: str = Field(min_length=1, max_length=2000)
    top_k: int = Field(default=3, ge=1, le=20)
    knowledge_bases: list[str] = Field(default_factory=lambda: list(STANDARD_KNOWLEDGE_BASES))
    namespace: str = Field(default="", max_length=128)


class KnowledgeDocument(BaseModel):
    knowledge_base: str = Field(min_length=1, max_length=128)
    source: str = Field(min_length=1, max_length=256)
    text: str = Field(min_length=1, max_length=512 * 1024)
    namespace: str = Field(default="", max_length=128)


@dataclass
class ConsoleLinks:
    """What the console's routes talk to: memory over HTTP and gRPC, health stubs, the
    sandbox's HTTP health, and the notifications stream."""

    http: aiohttp.ClientSession
    memory_url: str
    rag: pb_grpc.ModelGatewayStub
    health: dict[str, health_pb2_grpc.HealthStub]  # gRPC health of gateway, memory, sandbox
    sandbox_url: str
    notifications: Callable[[int], Awaitable[list[dict[str, Any]]]]


def add_console_views(app: FastAPI, links: ConsoleLinks, status: Any) -> None:
    """`status` is a coroutine function giving the planner's own health extras."""

    @app.get("/sessions/{session_id}/history", summary="A session's history, oldest first")
    async def session_history(
        session_id: str, limit: Annotated[int, Query(ge=1, le=HISTORY_LIMIT)] = 100
    ) -> JSONResponse:
        params = {"session_id": session_id, "limit": str(limit)}
        return await _forward(links, "GET", "/memory/latest", params=params)

    @app.post("/knowledge/search", summary="RAG playground: matches per knowledge base")
    async def knowledge_search(body: KnowledgeQuery) -> JSONResponse:
        request = pb.RAGContextRequest(
            query=body.query,
            top_k=body.top_k,
            knowledge_bases=body.knowledge_bases,
            namespace=body.namespace,
        )
        try:
            reply = await links.rag.GetRAGContext(request, timeout=10)
        except grpc.aio.AioRpcError as exc:
            # Memory refusing the query itself (e.g. a malformed namespace) is the caller's error.
            refused = exc.code() is grpc.StatusCode.INVALID_ARGUMENT
            detail = f"memory GetRAGContext: {exc.code().name}: {exc.details()}"
            return _error(400 if refused else 503, detail)
        return JSONResponse({"matches": [_match(m) for m in reply.matches]})

    @app.post("/knowledge/documents", summary="Ingest one text or markdown document")
    async def knowledge_ingest(body: KnowledgeDocument) -> JSONResponse:
        document: dict[str, Any] = {"text": body.text, "source": body.source}
        payload: dict[str, Any] = {"knowledge_base": body.knowledge_base, "documents": [document]}
        if body.namespace:
            payload["namespace"] = body.namespace
        return await _forward(links, "POST", "/memory/ingest", json=payload)

    @app.get("/system", summary="Health of every service, as the planner sees it")
    async def system() -> JSONResponse:
        names = list(links.health)
        grpc_states, memory, sandbox, planner, notifications = await asyncio.gather(
            asyncio.gather(*(_grpc_state(links.health[n]) for n in names)),
            _http_health(links, links.memory_url),
            _http_health(links, links.sandbox_url),
            status(),
            _latest_notifications(links),
        )
        return JSONResponse(
            {
                "planner": planner,
                "grpc": dict(zip(names, grpc_states, strict=True)),
                "memory": memory,
                "sandbox": sandbox,
                "notifications": notifications,
            }
        )


def _match(match: pb.RAGMatch) -> dict[str, Any]:
    return {
        "knowledge_base": match.knowledge_base,
        "id": match.id,
        "text": match.text,
        "distance": round(match.distance, 4),
        "source": match.source,
    }


async def _grpc_state(stub: health_pb2_grpc.HealthStub) -> str:
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=CHECK_SECONDS)
    except grpc.aio.AioRpcError as exc:
        return "down" if exc.code() is grpc.StatusCode.UNAVAILABLE else exc.code().name.lower()
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)).lower()


async def _latest_notifications(links: ConsoleLinks) -> list[dict[str, Any]] | str:
    try:
        return await asyncio.wait_for(links.notifications(NOTIFICATIONS_SHOWN), CHECK_SECONDS)
    except (RedisError, OSError, TimeoutError) as exc:
        return f"unavailable: {exc or type(exc).__name__}"


async def _http_health(links: ConsoleLinks, base_url: str) -> dict[str, Any]:
    try:
        timeout = aiohttp.ClientTimeout(total=CHECK_SECONDS)
        async with links.http.get(f"{base_url}/health", timeout=timeout) as reply:
            body = await reply.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return {"status": "down", "error": str(exc) or type(exc).__name__}
    return body if isinstance(body, dict) else {"status": "unknown"}


async def _forward(links: ConsoleLinks, method: str, path: str, **kwargs: Any) -> JSONResponse:
    """Memory's answer passed through (status and JSON), or 503 when it cannot be reached."""
    try:
        async with links.http.request(method, f"{links.memory_url}{path}", **kwargs) as reply:
            body = await reply.json(content_type=None)
            return JSONResponse(body, status_code=reply.status)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return _error(503, f"memory {path}: {type(exc).__name__}: {exc or 'no answer'}")
    except ValueError:
        return _error(502, f"memory {path}: reply is not JSON")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def console_links(
    settings: PlannerSettings, deps: LoopDependencies, http: aiohttp.ClientSession
) -> ConsoleLinks:
    """The console's links over the loop's own channels and the given HTTP session."""
    return ConsoleLinks(
        http,
        settings.MEMORY_URL,
        deps.memory.rag,
        {name: health_pb2_grpc.HealthStub(channel) for name, channel in deps.channels.items()},
        settings.RUST_SANDBOX_URL.rstrip("/"),
        deps.notifications.latest,
    )
