"""gRPC server bootstrap: health (probing real readiness), reflection, optional mTLS, and an
interceptor that binds the caller's trace id, records metrics and logs each call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.kit.errors import StartupError
from services.kit.internal_auth import InternalKeyInterceptor, warn_if_exposed
from services.kit.logs import get_logger
from services.kit.metrics import GRPC_LATENCY, GRPC_REQUESTS
from services.kit.settings import ServiceSettings
from services.kit.tls import TlsFiles, server_credentials
from services.kit.trace import TRACE_ID_METADATA, bind_trace_id, clean_trace_id, new_trace_id
from services.kit.tracing import extract_context, get_tracer

Probe = Callable[[], Awaitable[bool]]
Registrar = Callable[[Any, grpc.aio.Server], None]

log = get_logger("grpc")
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
PROBE_TIMEOUT_SECONDS = 3.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class ProbingHealthServicer(health.aio.HealthServicer):
    """Health whose Check runs the service's readiness probe, so it reflects reality."""

    def __init__(self, names: list[str], probe: Probe | None) -> None:
        super().__init__()
        self._names = ["", *names]
        self._probe = probe

    async def refresh(self) -> bool:
        ready = await run_probe(self._probe)
        for name in self._names:
            await self.set(name, SERVING if ready else NOT_SERVING)
        return ready

    async def Check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self.refresh()
        return await super().Check(request, context)


async def run_probe(probe: Probe | None) -> bool:
    if probe is None:
        return True
    try:
        return await asyncio.wait_for(probe(), PROBE_TIMEOUT_SECONDS)
    except Exception as exc:  # a failing probe means not ready, never a crash
        log.warning("readiness_probe_failed", error=str(exc) or type(exc).__name__)
        return False


class ObservabilityInterceptor(grpc.aio.ServerInterceptor):
    """Binds x-trace-id (or a new id) for the call, opens a span, counts and logs it; for
    unary calls and for server-streaming ones (the whole stream is one call)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        method = details.method
        decode = handler.request_deserializer
        infrastructure = method.startswith(("/grpc.health", "/grpc.reflection"))
        if handler.unary_stream is not None and not infrastructure:
            return grpc.unary_stream_rpc_method_handler(
                observed_stream(method, decode, handler.unary_stream),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_unary is None:
            return handler
        inner = decoding(method, decode, handler.unary_unary)
        if infrastructure:
            return grpc.unary_unary_rpc_method_handler(
                inner, response_serializer=handler.response_serializer
            )

        async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            with observed_call(method, context):
                return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            observed, response_serializer=handler.response_serializer
        )


@contextmanager
def observed_call(method: str, context: grpc.aio.ServicerContext) -> Iterator[None]:
    """The call's trace id, span, metrics and `grpc_request` log line around its work."""
    metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
    bind_trace_id(clean_trace_id(metadata.get(TRACE_ID_METADATA)) or new_trace_id())
    started = time.perf_counter()
    code = grpc.StatusCode.OK
    tracer = get_tracer("services.kit.grpc")
    with tracer.start_as_current_span(method, context=extract_context(metadata)):
        try:
            yield
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception:
            code = context.code() or grpc.StatusCode.UNKNOWN  # abort() sets the code
            raise
        finally:
            elapsed = time.perf_counter() - started
            GRPC_REQUESTS.labels(method, code.name).inc()
            GRPC_LATENCY.labels(method).observe(elapsed)
            log.info(
                "grpc_request", method=method, code=code.name, latency_ms=round(elapsed * 1000, 2)
            )


def observed_stream(
    method: str, decode: Callable[[bytes], Any] | None, inner: Callable[..., Any]
) -> Callable[[bytes, grpc.aio.ServicerContext], AsyncIterator[Any]]:
    """A server-streaming handler, observed like a unary one and fed a decoded request."""

    async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        with observed_call(method, context):
            request = await decoded(method, decode, raw, context)
            responses = inner(request, context)
            if not hasattr(responses, "__aiter__"):  # a handler that writes with context.write
                await responses
                return
            async for response in responses:
                yield response

    return handle


def decoding(
    method: str, decode: Callable[[bytes], Any] | None, inner: Callable[..., Awaitable[Any]]
) -> Callable[[bytes, grpc.aio.ServicerContext], Awaitable[Any]]:
    """inner, fed the request decoded here so malformed bytes answer INVALID_ARGUMENT
    (grpc.aio would answer UNKNOWN with the parser's exception text)."""

    async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        return await inner(await decoded(method, decode, raw, context), context)

    return handle


async def decoded(
    method: str,
    decode: Callable[[bytes], Any] | None,
    raw: bytes,
    context: grpc.aio.ServicerContext,
) -> Any:
    try:
        return decode(raw) if decode is not None else raw
    except Exception as exc:
        log.warning("grpc_malformed_request", method=method, error=str(exc))
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, f"malformed request message for {method}: {exc}"
        )


class GrpcEndpoint:
    """One gRPC server: add servicers, then start on a port; health and reflection included."""

    def __init__(
        self,
        port: int,
        tls: TlsFiles | None,
        probe: Probe | None = None,
        host: str = "127.0.0.1",
        internal_key: str | None = None,
    ) -> None:
        self.port = port
        self.tls = tls
        self.host = host
        # With mTLS the client certificate is the credential; the key is for plaintext links.
        self.internal_key = None if tls else internal_key
        self._probe = probe
        self._servicers: list[tuple[Registrar, Any, str]] = []
        self.server: grpc.aio.Server | None = None
        self.health: ProbingHealthServicer | None = None

    @classmethod
    def for_service(
        cls, settings: ServiceSettings, port: int, probe: Probe | None = None
    ) -> GrpcEndpoint:
        """The endpoint as the service's settings say: mTLS files, BIND_HOST, INTERNAL_API_KEY."""
        return cls(port, settings.server_tls(), probe, settings.BIND_HOST, settings.internal_key())

    def add(self, registrar: Registrar, servicer: Any, full_name: str) -> None:
        """Register servicer with its generated add_XServicer_to_server and full service name."""
        self._servicers.append((registrar, servicer, full_name))

    async def start(self) -> int:
        interceptors: list[grpc.aio.ServerInterceptor] = [ObservabilityInterceptor()]
        if self.internal_key:
            interceptors.append(InternalKeyInterceptor(self.internal_key))
        server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        names = [name for _, _, name in self._servicers]
        for registrar, servicer, _ in self._servicers:
            registrar(servicer, server)
        self.health = ProbingHealthServicer(names, self._probe)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        host = self.host.strip()
        address = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        try:
            if self.tls:
                bound = server.add_secure_port(address, server_credentials(self.tls))
            else:
                bound = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise StartupError(f"cannot listen for gRPC on {address}: {exc}") from None
        if not bound:
            raise StartupError(f"cannot listen for gRPC on {address}")
        warn_if_exposed(host, self.internal_key, grpc_mtls=bool(self.tls))
        if not self.tls:
            log.warning(
                "grpc_plaintext",
                port=bound,
                hint="set TLS_SERVER_CERT_PATH, TLS_SERVER_KEY_PATH, TLS_CA_CERT_PATH for mTLS",
            )
        await server.start()
        await self.health.refresh()
        self.server = server
        log.info(
            "grpc_listening",
            host=host,
            port=bound,
            services=names,
            tls=bool(self.tls),
            internal_key=bool(self.internal_key),
        )
        return bound

    async def stop(self, grace: float = 5.0) -> None:
        if self.server is not None:
            if self.health is not None:
                await self.health.enter_graceful_shutdown()
            await self.server.stop(grace)
