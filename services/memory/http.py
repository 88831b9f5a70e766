"""HTTP routes: session history (Heart-KB), playbooks (Mind-KB) and document ingestion."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from services.kit.direct_routes import add_direct_route
from services.kit.http_app import body_schema, create_app, json_body
from services.kit.knowledge_bases import MIND_KB, valid_name
from services.kit.timestamps import utc_stamp
from services.memory.api_ingestion import IngestLimits, api_documents, check_room_for
from services.memory.components import MemoryComponents
from services.memory.errors import DependencyUnavailable, InvalidRequest
from services.memory.knowledge import check_namespace, collection_name
from services.memory.playbook import PlaybookStep
from services.memory.schemas import IngestRequest, Message, PlaybookRequest, StoreRequest
from services.memory.store import MAX_HISTORY_LIMIT, StoredMessage

SERVICE = "memory"
VERSION = "0.1.0"


def build_app(parts: MemoryComponents) -> FastAPI:
    app = create_app(
        SERVICE,
        VERSION,
        health=parts.health.http,
        max_body_bytes=parts.settings.MEMORY_MAX_BODY_BYTES,
        internal_key=parts.settings.internal_key(),
    )
    app.add_exception_handler(InvalidRequest, _invalid_request)
    app.add_exception_handler(DependencyUnavailable, _dependency_unavailable)
    limits = IngestLimits.from_settings(parts.settings)

    @app.get("/ready", summary="Readiness: dependencies answer and start-up ingestion is done")
    async def ready() -> JSONResponse:
        ok, extra = await parts.health.readiness()
        body = {"service": SERVICE, "status": "ready" if ok else "not_ready", **extra}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/memory/latest")
    async def latest(
        session_id: str | None = None, limit: int | None = Query(None, ge=1, le=MAX_HISTORY_LIMIT)
    ) -> dict[str, Any]:
        chosen, messages = await parts.store.latest(session_id or "", limit)
        return {"session_id": chosen, "messages": [m.as_dict() for m in messages]}

    async def store(request: Request) -> JSONResponse:
        # Every /plan ends with this call: a direct route, its body parsed and checked in
        # one pydantic step, and its answer not re-encoded by FastAPI.
        body = json_body(StoreRequest, await request.body())
        stored_at = body.stored_at or utc_stamp()
        messages = [_stored(m, stored_at) for m in body.history]
        await parts.store.append(body.session_id, messages)
        return JSONResponse(
            {"status": "ok", "session_id": body.session_id, "turns": len(body.history)}
        )

    add_direct_route(app, "/memory/store", store, openapi_extra=body_schema(StoreRequest))

    @app.post("/memory/playbook")
    async def playbook(body: PlaybookRequest) -> dict[str, Any]:
        steps = [PlaybookStep(m.role, m.content) for m in body.history_sequence]
        namespace = check_namespace(body.namespace)
        await ensure_room(collection_name(namespace, MIND_KB))
        playbook_id = await parts.playbooks.store(body.session_id, body.prompt, steps, namespace)
        return {"status": "ok", "playbook_id": playbook_id}

    @app.post("/memory/ingest")
    async def ingest(body: IngestRequest) -> dict[str, Any]:
        namespace = check_namespace(body.namespace)
        if not valid_name(body.knowledge_base):
            raise InvalidRequest("knowledge_base: use 3-62 letters, digits, '_' or '-'")
        documents = api_documents(body, limits)
        name = collection_name(namespace, body.knowledge_base)
        await ensure_room(name)
        report = await parts.ingestor.ingest_documents(name, documents)
        summary = {"status": "ok", "knowledge_base": body.knowledge_base, "namespace": namespace}
        return summary | report.as_dict()

    async def ensure_room(collection: str) -> None:
        existing = await asyncio.to_thread(parts.knowledge.collection_names_now)
        check_room_for(collection, existing, limits)

    return app


def _stored(message: Message, stored_at: str) -> StoredMessage:
    extra = dict(message.model_extra or {})
    extra.pop("stored_at", None)
    return StoredMessage(message.role, message.content, stored_at, extra)


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=422)


async def _dependency_unavailable(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": f"dependency unavailable: {exc}"}, status_code=503)
