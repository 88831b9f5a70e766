"""What the kit does around every gRPC call: binds the caller's trace id (or a new one),
opens a span, checks the internal key, decodes the request (malformed bytes answer
INVALID_ARGUMENT), counts, times and logs the call.

Handlers are wrapped once per method, when the servicer is registered, instead of by a
grpc.aio server interceptor: an interceptor costs an await chain, a metadata tuple and new
handler objects on every call, which made this plumbing cost about as much CPU as the call
itself. Health and reflection are only decoded: no key, no span, no log line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import Any

import grpc

from services.kit.internal_auth import (
    AUTH_METADATA,
    EXEMPT_METHOD_PREFIXES,
    UNAUTHENTICATED,
    authorized,
)
from services.kit.logs import get_logger
from services.kit.metrics import GRPC_LATENCY, GRPC_REQUESTS, child
from services.kit.trace import TRACE_ID_METADATA, bind_trace_id, clean_trace_id, new_trace_id
from services.kit.tracing import get_tracer, server_span

Decoder = Callable[[bytes], Any] | None
log = get_logger("grpc")
tracer = get_tracer("services.kit.grpc")  # a proxy: follows a provider installed later
ACCESS_EVENT = "grpc_request"


class CallLine:
    """The call's log line as its handler described it (describe_call). Tasks the handler
    starts share it: they copy the context, and so the reference."""

    __slots__ = ("event", "fields", "written")

    def __init__(self) -> None:
        self.event = ACCESS_EVENT
        self.fields: dict[str, Any] = {}
        self.written = False


_CALL_LINE: ContextVar[CallLine | None] = ContextVar("pagi_call_line", default=None)


def describe_call(event: str, **fields: Any) -> None:
    """Make the call's one log line (written when the call ends, with its method, code and
    latency) an `event` line with fields, instead of a second line beside the kit's
    grpc_request. Outside an observed call, or after its line went out (work the call
    started, ending after a cancelled call), the line is written at once."""
    line = _CALL_LINE.get()
    if line is None or line.written:
        log.info(event, **fields)
        return
    line.event, line.fields = event, fields


class CallObserver:
    """The per-method part of observing a call: its metric children are looked up once."""

    def __init__(self, method: str, internal_key: str | None) -> None:
        self.method = method
        self._key = internal_key
        self._latency = child(GRPC_LATENCY, method)
        # The configured logger itself (made at registration, after logging is set up), not
        # the module's lazy proxy, which resolves it again on every line.
        self._log = log.bind()

    def start(self, context: grpc.aio.ServicerContext) -> tuple[dict[str, str], bool]:
        """Binds the call's trace id; the caller's metadata and whether it may call."""
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        bind_trace_id(clean_trace_id(metadata.get(TRACE_ID_METADATA)) or new_trace_id())
        allowed = self._key is None or authorized(metadata.get(AUTH_METADATA), self._key)
        _CALL_LINE.set(CallLine())
        return metadata, allowed

    def finish(self, code: grpc.StatusCode, started: float) -> None:
        elapsed = time.perf_counter() - started
        child(GRPC_REQUESTS, self.method, code.name).inc()
        self._latency.observe(elapsed)
        line = _CALL_LINE.get() or CallLine()
        line.written = True
        self._log.info(
            line.event,
            method=self.method,
            code=code.name,
            latency_ms=round(elapsed * 1000, 2),
            **line.fields,
        )


def failure_code(exc: BaseException, context: grpc.aio.ServicerContext) -> grpc.StatusCode:
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return context.code() or grpc.StatusCode.UNKNOWN  # abort() sets the code


def observed_unary(
    observer: CallObserver, decode: Decoder, inner: Callable[..., Awaitable[Any]]
) -> Callable[[bytes, grpc.aio.ServicerContext], Awaitable[Any]]:
    method = observer.method

    async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        metadata, allowed = observer.start(context)
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        with server_span(tracer, method, metadata):
            try:
                if not allowed:
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED)
                return await inner(await decoded(method, decode, raw, context), context)
            except (Exception, asyncio.CancelledError) as exc:
                code = failure_code(exc, context)
                raise
            finally:
                observer.finish(code, started)

    return handle


def observed_stream(
    observer: CallObserver, decode: Decoder, inner: Callable[..., Any]
) -> Callable[[bytes, grpc.aio.ServicerContext], AsyncIterator[Any]]:
    """A server-streaming handler, observed like a unary one (the whole stream is one call)."""
    method = observer.method

    async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        metadata, allowed = observer.start(context)
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        with server_span(tracer, method, metadata):
            try:
                if not allowed:
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED)
                responses = inner(await decoded(method, decode, raw, context), context)
                if not hasattr(responses, "__aiter__"):  # a handler writing with context.write
                    await responses
                    return
                async for response in responses:
                    yield response
            except (Exception, asyncio.CancelledError) as exc:
                code = failure_code(exc, context)
                raise
            finally:
                observer.finish(code, started)

    return handle


def wrap_handler(
    method: str, handler: grpc.RpcMethodHandler | None, internal_key: str | None
) -> grpc.RpcMethodHandler | None:
    """The handler the server runs for method: observed (and key-checked when
    internal_key is set), or, for health and reflection, only decoded."""
    if handler is None:
        return None
    decode, serialize = handler.request_deserializer, handler.response_serializer
    if method.startswith(EXEMPT_METHOD_PREFIXES):
        if handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            decoding(method, decode, handler.unary_unary), response_serializer=serialize
        )
    observer = CallObserver(method, internal_key)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            observed_stream(observer, decode, handler.unary_stream), response_serializer=serialize
        )
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            observed_unary(observer, decode, handler.unary_unary), response_serializer=serialize
        )
    return handler if internal_key is None else refusing(handler)


def refusing(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A client-streaming handler that answers UNAUTHENTICATED without reading the
    request (no service has one; the key must guard it all the same)."""

    async def refuse(_: object, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED)

    return grpc.unary_unary_rpc_method_handler(
        refuse, response_serializer=handler.response_serializer
    )


class WrappedGenericHandler(grpc.GenericRpcHandler):
    """A servicer's generic handler whose method handlers are wrapped once, on first use."""

    def __init__(self, inner: grpc.GenericRpcHandler, internal_key: str | None) -> None:
        self._inner = inner
        self._key = internal_key
        self._wrapped: dict[str, tuple[Any, grpc.RpcMethodHandler | None]] = {}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = self._inner.service(details)
        cached = self._wrapped.get(details.method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = wrap_handler(details.method, handler, self._key)
        self._wrapped[details.method] = (handler, wrapped)
        return wrapped


class WrappingRegistrar:
    """Stands for the server while a generated add_XServicer_to_server registers a
    servicer: every handler reaches the real server wrapped by wrap_handler."""

    def __init__(self, server: grpc.aio.Server, internal_key: str | None) -> None:
        self._server = server
        self._key = internal_key

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(WrappedGenericHandler(handler, self._key) for handler in handlers)
        )

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        wrapped = {
            name: wrap_handler(f"/{service}/{name}", handler, self._key)
            for name, handler in handlers.items()
        }
        self._server.add_registered_method_handlers(service, wrapped)


def decoding(
    method: str, decode: Decoder, inner: Callable[..., Awaitable[Any]]
) -> Callable[[bytes, grpc.aio.ServicerContext], Awaitable[Any]]:
    """inner, fed the request decoded here so malformed bytes answer INVALID_ARGUMENT
    (grpc.aio would answer UNKNOWN with the parser's exception text)."""

    async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        return await inner(await decoded(method, decode, raw, context), context)

    return handle


async def decoded(
    method: str, decode: Decoder, raw: bytes, context: grpc.aio.ServicerContext
) -> Any:
    try:
        return decode(raw) if decode is not None else raw
    except Exception as exc:
        log.warning("grpc_malformed_request", method=method, error=str(exc))
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, f"malformed request message for {method}: {exc}"
        )
