"""A blocking grpc.health.v1 probe, shared by the dev runner, the container health check and
the tests; optional mTLS from the TLS_CLIENT_* variables."""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.kit.tls import channel_credentials, client_tls


def client_credentials_from(env: Mapping[str, str]) -> grpc.ChannelCredentials | None:
    """mTLS credentials when TLS_CLIENT_* are set in env; ConfigError for a partial set,
    OSError when a file cannot be read."""
    files = client_tls(
        env.get("TLS_CLIENT_CERT_PATH", ""),
        env.get("TLS_CLIENT_KEY_PATH", ""),
        env.get("TLS_CA_CERT_PATH", ""),
    )
    return channel_credentials(files) if files else None


def grpc_serving(
    address: str,
    credentials: grpc.ChannelCredentials | None = None,
    server_name: str = "",
    timeout: float = 3.0,
) -> bool:
    """True when the server at address answers Check("") with SERVING."""
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    channel = (
        grpc.secure_channel(address, credentials, options=options)
        if credentials
        else grpc.insecure_channel(address)
    )
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
