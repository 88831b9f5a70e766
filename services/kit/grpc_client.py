"""gRPC channels to other services: optional mTLS, and the current trace id (plus W3C
traceparent when tracing is on) and the internal key sent as metadata on every call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from services.kit.internal_auth import AUTH_METADATA, bearer
from services.kit.tls import TlsFiles, channel_credentials
from services.kit.trace import TRACE_ID_METADATA, current_trace_id
from services.kit.tracing import inject_context

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class CallMetadata:
    """The metadata every call carries: the internal key (when set), the current trace id
    and, when tracing is on, the W3C trace context."""

    def __init__(self, internal_key: str | None = None) -> None:
        self._auth = [(AUTH_METADATA, bearer(internal_key))] if internal_key else []

    def added_to(self, metadata: Any) -> grpc.aio.Metadata:
        pairs = [*(metadata or ()), *self._auth]
        trace_id = current_trace_id()
        if trace_id:
            pairs.append((TRACE_ID_METADATA, trace_id))
        carrier: dict[str, str] = {}
        inject_context(carrier)
        pairs.extend(carrier.items())
        return grpc.aio.Metadata(*pairs)


class _WithMetadata:
    """A method of the channel (any of the four kinds) whose calls carry CallMetadata."""

    def __init__(self, method: Any, metadata: CallMetadata) -> None:
        self._method = method
        self._metadata = metadata

    def __call__(self, request: Any = None, *, metadata: Any = None, **options: Any) -> Any:
        return self._method(request, metadata=self._metadata.added_to(metadata), **options)


class MetadataChannel(grpc.aio.Channel):
    """A channel whose every call carries CallMetadata: what a client interceptor would do,
    without grpc.aio's interceptor machinery, which wraps every call in objects and a task
    of its own (about 45 us of CPU a call, a tenth of a unary call's client side)."""

    def __init__(self, channel: grpc.aio.Channel, metadata: CallMetadata) -> None:
        self._channel = channel
        self._metadata = metadata

    def unary_unary(self, *args: Any, **kwargs: Any) -> Any:
        return _WithMetadata(self._channel.unary_unary(*args, **kwargs), self._metadata)

    def unary_stream(self, *args: Any, **kwargs: Any) -> Any:
        return _WithMetadata(self._channel.unary_stream(*args, **kwargs), self._metadata)

    def stream_unary(self, *args: Any, **kwargs: Any) -> Any:
        return _WithMetadata(self._channel.stream_unary(*args, **kwargs), self._metadata)

    def stream_stream(self, *args: Any, **kwargs: Any) -> Any:
        return _WithMetadata(self._channel.stream_stream(*args, **kwargs), self._metadata)

    async def __aenter__(self) -> MetadataChannel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self, grace: float | None = None) -> None:
        await self._channel.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._channel.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._channel.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._channel.channel_ready()


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
    metadata = CallMetadata(internal_key)
    if tls is None:
        return MetadataChannel(grpc.aio.insecure_channel(address, options=options), metadata)
    if server_name.strip():
        options.append(("grpc.ssl_target_name_override", server_name.strip()))
    channel = grpc.aio.secure_channel(address, channel_credentials(tls), options=options)
    return MetadataChannel(channel, metadata)
