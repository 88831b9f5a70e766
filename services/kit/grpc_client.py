"""gRPC channels to other services: optional mTLS, and the current trace id (plus W3C
traceparent when tracing is on) sent as metadata on every call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc

from services.kit.tls import TlsFiles, channel_credentials
from services.kit.trace import TRACE_ID_METADATA, current_trace_id
from services.kit.tracing import inject_context

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class TraceMetadataInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        metadata = list(details.metadata or ())
        trace_id = current_trace_id()
        if trace_id:
            metadata.append((TRACE_ID_METADATA, trace_id))
        carrier: dict[str, str] = {}
        inject_context(carrier)
        metadata.extend(carrier.items())
        new_details = grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*metadata),
            details.credentials,
            details.wait_for_ready,
        )
        return await continuation(new_details, request)


def open_channel(
    address: str,
    tls: TlsFiles | None,
    server_name: str = "",
    extra_options: Sequence[tuple[str, Any]] = (),
) -> grpc.aio.Channel:
    """One long-lived channel per dependency; TLS_SERVER_NAME overrides the checked host name.

    extra_options are further gRPC channel arguments (e.g. reconnect backoff bounds).
    """
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.enable_retries", 0),
        *extra_options,
    ]
    interceptors = [TraceMetadataInterceptor()]
    if tls is None:
        return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)
    if server_name.strip():
        options.append(("grpc.ssl_target_name_override", server_name.strip()))
    return grpc.aio.secure_channel(
        address, channel_credentials(tls), options=options, interceptors=interceptors
    )
