"""gRPC channels to other services: optional mTLS, and the current trace id (plus W3C
traceparent when tracing is on) and the internal key sent as metadata on every call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc

from services.kit.internal_auth import AUTH_METADATA, bearer
from services.kit.tls import TlsFiles, channel_credentials
from services.kit.trace import TRACE_ID_METADATA, current_trace_id
from services.kit.tracing import inject_context

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class CallMetadataInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Adds the trace id, trace context and (when set) the internal key to every unary call."""

    def __init__(self, internal_key: str | None = None) -> None:
        self._auth = [(AUTH_METADATA, bearer(internal_key))] if internal_key else []

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(self.with_metadata(details), request)

    def with_metadata(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = [*(details.metadata or ()), *self._auth]
        trace_id = current_trace_id()
        if trace_id:
            metadata.append((TRACE_ID_METADATA, trace_id))
        carrier: dict[str, str] = {}
        inject_context(carrier)
        metadata.extend(carrier.items())
        return grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*metadata),
            details.credentials,
            details.wait_for_ready,
        )


class StreamCallMetadataInterceptor(grpc.aio.UnaryStreamClientInterceptor):
    """The same metadata on server-streaming calls: grpc.aio files an interceptor under its
    first matching kind only, so one object implementing both kinds never sees a stream."""

    def __init__(self, unary: CallMetadataInterceptor) -> None:
        self._unary = unary

    async def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(self._unary.with_metadata(details), request)


def open_channel(
    address: str,
    tls: TlsFiles | None,
    server_name: str = "",
    extra_options: Sequence[tuple[str, Any]] = (),
    internal_key: str | None = None,
) -> grpc.aio.Channel:
    """One long-lived channel per dependency; TLS_SERVER_NAME overrides the checked host name.

    extra_options are further gRPC channel arguments (e.g. reconnect backoff bounds);
    internal_key (INTERNAL_API_KEY) is sent as `authorization: Bearer <key>` on every call.
    """
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.enable_retries", 0),
        *extra_options,
    ]
    unary = CallMetadataInterceptor(internal_key)
    interceptors: list[grpc.aio.ClientInterceptor] = [unary, StreamCallMetadataInterceptor(unary)]
    if tls is None:
        return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)
    if server_name.strip():
        options.append(("grpc.ssl_target_name_override", server_name.strip()))
    return grpc.aio.secure_channel(
        address, channel_credentials(tls), options=options, interceptors=interceptors
    )
