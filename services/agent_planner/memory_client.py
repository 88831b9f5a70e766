"""Calls to the memory service: session history, deltas and playbooks over HTTP (kept
connections of a ServiceHttpClient), and RAG context over gRPC behind a circuit breaker,
alone or with the history in one call (GetPlanContext)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
import orjson

from services.agent_planner.breaker import CircuitBreaker
from services.agent_planner.errors import (
    DependencyError,
    PlanContextUnsupported,
    RagPartFailed,
    call_dependency,
)
from services.agent_planner.history_clip import fit_texts
from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.http_app import DEFAULT_MAX_BODY_BYTES
from services.kit.http_client import HttpCallFailed, ServiceHttpClient
from services.kit.logs import get_logger
from services.kit.timestamps import utc_stamp
from services.kit.trace import trace_headers

Message = dict[str, Any]
log = get_logger("memory_client")


def _message(role: str, content: str, clipped: bool) -> Message:
    return {"role": role, "content": content, **({"clipped": True} if clipped else {})}


class MemoryClient:
    def __init__(
        self,
        http: ServiceHttpClient,
        rag: pb_grpc.ModelGatewayStub,
        rag_breaker: CircuitBreaker,
        rag_timeout_seconds: float,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.http = http
        self.max_body_bytes = max_body_bytes
        self.rag = rag
        self.rag_breaker = rag_breaker
        self.rag_timeout_seconds = rag_timeout_seconds

    async def fetch_session_history(self, session_id: str, limit: int) -> list[Message]:
        """The session's last `limit` messages, oldest first."""
        params = {"session_id": session_id, "limit": limit}
        reply = await self._send("GET", "/memory/latest", params=params)
        messages = reply.get("messages")
        if not isinstance(messages, list):
            raise DependencyError("memory /memory/latest: reply has no messages list")
        return [m for m in messages if isinstance(m, dict)]

    async def store_session_delta(self, session_id: str, user: str, assistant: str) -> None:
        """Append a user/assistant pair to the session (Heart-KB), clipped to fit memory's
        body limit (each text is sent twice: as a message and as prompt / llm_response)."""
        user_text, answer_text = fit_texts([user, assistant], self.max_body_bytes, copies=2)
        if (user_text, answer_text) != (user, assistant):
            log.warning("session_delta_clipped", chars=[len(user), len(assistant)])
        await self._send(
            "POST",
            "/memory/store",
            json={
                "session_id": session_id,
                "history": [
                    _message("user", user_text, clipped=user_text != user),
                    _message("assistant", answer_text, clipped=answer_text != assistant),
                ],
                "prompt": user_text,
                "llm_response": {"text": answer_text},
                "stored_at": utc_stamp(),
            },
        )

    async def store_playbook(
        self, session_id: str, prompt: str, sequence: Sequence[Message]
    ) -> str:
        texts = [str(m.get("content", "")) for m in sequence]
        prompt_text, *contents = fit_texts([prompt, *texts], self.max_body_bytes)
        steps = [
            {**message, "content": content}
            for message, content in zip(sequence, contents, strict=True)
        ]
        reply = await self._send(
            "POST",
            "/memory/playbook",
            json={"session_id": session_id, "prompt": prompt_text, "history_sequence": steps},
        )
        return str(reply.get("playbook_id", ""))

    async def fetch_rag_context(self, request: pb.RAGContextRequest) -> list[pb.RAGMatch]:
        """Matches from the `<namespace>.<KB>` collections ('' = the plain KB names)."""

        async def call() -> pb.RAGContextResponse:
            return await self.rag.GetRAGContext(request, timeout=self.rag_timeout_seconds)

        reply = await call_dependency("GetRAGContext", lambda: self.rag_breaker.call(call))
        return list(reply.matches)

    async def fetch_plan_context(
        self, session_id: str, history_limit: int, rag: pb.RAGContextRequest
    ) -> pb.PlanContextResponse:
        """RAG matches and session history in one call (GetPlanContext), through the RAG
        breaker: a failed RAG part counts against it as a failed GetRAGContext would.
        PlanContextUnsupported when memory does not serve the call (an older memory)."""
        request = pb.PlanContextRequest(rag=rag, session_id=session_id, history_limit=history_limit)

        async def call() -> pb.PlanContextResponse:
            try:
                reply = await self.rag.GetPlanContext(request, timeout=self.rag_timeout_seconds)
            except grpc.aio.AioRpcError as exc:
                if exc.code() is grpc.StatusCode.UNIMPLEMENTED:
                    raise PlanContextUnsupported(exc.details() or "UNIMPLEMENTED") from exc
                raise
            if reply.rag_error:
                raise RagPartFailed(reply)
            return reply

        try:
            return await call_dependency("GetPlanContext", lambda: self.rag_breaker.call(call))
        except RagPartFailed as failed:
            return failed.reply

    async def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            reply = await self.http.request(method, path, headers=trace_headers(), **kwargs)
        except (HttpCallFailed, OSError, TimeoutError) as exc:
            reason = str(exc) or "no answer within the timeout"
            raise DependencyError(f"memory {path}: {type(exc).__name__}: {reason}") from exc
        if reply.status >= 400:
            body = reply.body[:200].decode("utf-8", "replace")
            raise DependencyError(f"memory {path}: HTTP {reply.status}: {body}")
        try:
            document = orjson.loads(reply.body)
        except orjson.JSONDecodeError as exc:
            raise DependencyError(f"memory {path}: reply is not JSON") from exc
        if not isinstance(document, dict):
            raise DependencyError(f"memory {path}: reply is not a JSON object")
        return document
