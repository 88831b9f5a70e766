"""FastAPI app factory with the project's conventions: X-Trace-ID in and out, one
`http_request` log line and metrics per request, a request body limit, JSON errors that
name the offending field, and /health and /metrics routes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.kit.errors import DatabaseUnavailable
from services.kit.internal_auth import EXEMPT_HTTP_PATHS, UNAUTHENTICATED, authorized
from services.kit.json_limits import JsonRefused, loads_bounded
from services.kit.logs import get_logger
from services.kit.metrics import HTTP_LATENCY, HTTP_REQUESTS, child, render_metrics
from services.kit.trace import TRACE_ID_HEADER, bind_trace_id, clean_trace_id, new_trace_id

HealthCheck = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
Body = TypeVar("Body", bound=BaseModel)
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
log = get_logger("http")


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class RequestContext:
    """What an app's RequestContextMiddleware was made with (kept on app.state)."""

    max_body_bytes: int
    internal_key: str | None


class RequestContextMiddleware:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware) for trace id, limits, logs."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, internal_key: str | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.internal_key = internal_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        trace_id = clean_trace_id(headers.get(TRACE_ID_HEADER.lower())) or new_trace_id()
        bind_trace_id(trace_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_trace(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (TRACE_ID_HEADER.encode(), trace_id.encode()),
                ]
            await send(message)

        declared = headers.get("content-length")
        try:
            if not self._admitted(scope["path"], headers):
                await _refuse(send_with_trace, 401, f"unauthorized: {UNAUTHENTICATED}")
            elif (
                declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes
            ):
                await self._too_large(send_with_trace)
            elif _has_body(declared, headers):
                body = await self._read_limited(receive)
                await self._checked(scope, body, receive, send_with_trace)
            else:
                await self.app(scope, receive, send_with_trace)
        except BodyTooLarge:
            if not response_started:
                await self._too_large(send_with_trace)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _admitted(self, path: str, headers: dict[str, str]) -> bool:
        """Without INTERNAL_API_KEY everyone; with it, the probes and /metrics, or the key."""
        if self.internal_key is None or path in EXEMPT_HTTP_PATHS:
            return True
        return authorized(headers.get("authorization"), self.internal_key)

    async def _checked(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
        """The app, fed body, unless body is JSON over the depth or number limits."""
        try:
            check_body(body)
        except JsonRefused as exc:
            await _refuse(send, 400, f"request body refused: {exc}")
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_limited(self, receive: Receive) -> bytes:
        """Buffer a body of unknown length, refusing it as soon as it passes the limit."""
        parts: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_body_bytes:
                raise BodyTooLarge
            parts.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(parts)

    async def _too_large(self, send: Send) -> None:
        await _refuse(send, 413, f"request body too large (limit {self.max_body_bytes} bytes)")

    @staticmethod
    def _record(scope: Scope, status: int, elapsed: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None) or "<unmatched>"
        method = scope["method"]
        child(HTTP_REQUESTS, method, path, str(status)).inc()
        child(HTTP_LATENCY, method, path).observe(elapsed)
        log.info(
            "http_request",
            method=method,
            path=scope["path"],
            status=status,
            latency_ms=round(elapsed * 1000, 2),
        )


async def _empty_receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _refuse(send: Send, status: int, message: str) -> None:
    await JSONResponse({"error": message}, status_code=status)(
        {"type": "http"}, _empty_receive, send
    )


def _has_body(declared: str | None, headers: dict[str, str]) -> bool:
    if declared is None:
        return "chunked" in headers.get("transfer-encoding", "")
    return declared != "0"


def check_body(body: bytes) -> None:
    """Raise JsonRefused for a body nested past MAX_JSON_DEPTH or holding NaN/infinity.

    Bodies that are not JSON at all pass: the route answers those with its own error."""
    try:
        loads_bounded(body)
    except JsonRefused:
        raise
    except ValueError:
        return


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body once, then the client's own messages (e.g. its disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def json_body(model: type[Body], body: bytes) -> Body:
    """body parsed and checked in one step by pydantic, refused as FastAPI refuses a
    declared body model (422, each error located under `body`). For hot routes: FastAPI's
    own path parses the JSON in Python, validates it apart and re-encodes the answer, which
    costs more than the work of a small write."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = [_as_body_error(e) for e in exc.errors(include_url=False, include_context=False)]
        raise RequestValidationError(errors) from None


def _as_body_error(error: Any) -> dict[str, Any]:
    located = {**error, "loc": ("body", *error["loc"])}
    if error["type"] == "json_invalid":  # FastAPI's wording, with pydantic's reason
        located["msg"] = f"JSON decode error: {error['msg'].removeprefix('Invalid JSON: ')}"
    return located


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a route that reads its body with json_body: the model's JSON schema with
    its nested models written in place (its `#/$defs/...` references would otherwise point
    into the OpenAPI document, where they do not exist)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    content = {"application/json": {"schema": inline(schema)}}
    return {"requestBody": {"required": True, "content": content}}


def describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query")]
        parts.append(f"{'.'.join(loc) or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        {"error": describe_validation(exc), "detail": _jsonable_errors(exc)}, status_code=422
    )


def _jsonable_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "loc": list(e.get("loc", ())),
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("database_unavailable", error=str(exc))
    return JSONResponse({"error": str(exc)}, status_code=503)


def create_app(
    service: str,
    version: str = "0.1.0",
    health: HealthCheck | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    internal_key: str | None = None,
    **fastapi_kwargs: Any,
) -> FastAPI:
    """An app with /health (running `health` when given) and /metrics already routed;
    with internal_key (INTERNAL_API_KEY) every other route requires it."""
    app = FastAPI(title=service, version=version, **fastapi_kwargs)
    app.add_middleware(
        RequestContextMiddleware, max_body_bytes=max_body_bytes, internal_key=internal_key
    )
    app.state.request_context = RequestContext(max_body_bytes, internal_key)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)

    @app.get("/health")
    async def health_route() -> JSONResponse:
        ok, extra = (True, {}) if health is None else await health()
        body = {"service": service, "status": "ok" if ok else "unavailable", "version": version}
        return JSONResponse({**body, **extra}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_route() -> Response:
        payload, content_type = render_metrics()
        return Response(payload, media_type=content_type)

    return app
